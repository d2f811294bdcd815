package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// separator starts every line that ends a YAML document, as
// k8s.io/apimachinery's YAMLReader frames them (and kubectl with it).
var separator = []byte("---")

// split turns one source into its documents. Like apimachinery's
// YAMLOrJSONDecoder it treats a source that starts with "{" as a JSON
// stream, and falls back to YAML when not even its first document is JSON
// (YAML flow style); the JSON error is the one reported when both fail.
func (r reader) split(source string, data []byte) ([]Document, error) {
	if utilyaml.IsJSONBuffer(data) {
		docs, decoded, err := r.splitJSON(source, data)
		if err == nil || decoded > 0 {
			return docs, err
		}
		if yamlDocs, yamlErr := r.splitYAML(source, data); yamlErr == nil {
			return yamlDocs, nil
		}
		return nil, err
	}
	return r.splitYAML(source, data)
}

// splitYAML frames documents with apimachinery's YAMLReader and converts
// each with sigs.k8s.io/yaml. The reader does not say where a document
// starts, but it returns whole source lines and drops exactly one line, the
// separator, after each document it returns; counting both places every
// document in the source.
func (r reader) splitYAML(source string, data []byte) ([]Document, error) {
	lines := bytes.Split(data, []byte("\n"))
	next := 0 // index in lines of the first line not yet returned
	frames := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []Document
	for {
		doc, err := frames.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, &Error{Source: source, Line: badSeparatorLine(lines, next), Err: err}
		}
		first := next + 1 // go-yaml counts lines from here
		next += bytes.Count(doc, []byte("\n")) + 1

		if len(doc) > r.maxDocument {
			return nil, r.documentTooLarge(source, first)
		}
		// Strict: a key written twice is an error, as with kubectl's
		// default validation, rather than a silent choice of one value.
		raw, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, yamlError(source, first, err)
		}
		found, err := r.documents(source, first+leadingLines(doc), raw, frame{text: doc, line: first})
		if err != nil {
			return nil, err
		}
		docs = append(docs, found...)
	}
}

// leadingLines counts the lines before a document's content: blank lines,
// comments (a Helm "# Source:" line) and its own "---", so Line points at
// the object rather than at what precedes it.
func leadingLines(doc []byte) int {
	n := 0
	for line := range bytes.Lines(doc) {
		t := bytes.TrimSpace(line)
		if len(t) != 0 && t[0] != '#' && !bytes.HasPrefix(line, separator) {
			break
		}
		n++
	}
	return n
}

// badSeparatorLine is the line of the first malformed separator from line
// index next on (the only error YAMLReader reports on in-memory input), or
// the line where the unread part starts.
func badSeparatorLine(lines [][]byte, next int) int {
	for i := next; i < len(lines); i++ {
		if !bytes.HasPrefix(lines[i], separator) {
			continue
		}
		rest := strings.TrimSpace(string(lines[i][len(separator):]))
		if rest != "" && !strings.HasPrefix(rest, "#") {
			return i + 1
		}
	}
	return next + 1
}

// yamlLine finds the line go-yaml puts in its messages ("yaml: line 3:
// ..."): its errors carry no typed position.
var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlError places a YAML error at its line in the source: the document's
// first line plus the line go-yaml names inside the document.
func yamlError(source string, start int, err error) error {
	msg := err.Error()
	var te *goyaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		// Duplicate keys and the like: one "line N: ..." per problem;
		// the first is enough to fix and keeps the message on one line.
		msg = "yaml: " + te.Errors[0]
	}
	line := start
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		if n, convErr := strconv.Atoi(msg[m[2]:m[3]]); convErr == nil && n > 0 {
			line = start + n - 1
			msg = msg[:m[0]] + msg[m[1]:]
		}
	}
	return &Error{Source: source, Line: line, Err: errors.New(strings.Join(strings.Fields(msg), " "))}
}

// splitJSON reads a stream of JSON values. decoded counts the values read
// before an error, to tell a broken JSON stream from YAML that starts with "{".
func (r reader) splitJSON(source string, data []byte) (docs []Document, decoded int, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		offset := int(dec.InputOffset())
		offset += len(data[offset:]) - len(bytes.TrimLeft(data[offset:], " \t\r\n"))
		start := lineAt(data, offset)

		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs, decoded, nil
		}
		if err != nil {
			var syntax *json.SyntaxError
			switch {
			case errors.As(err, &syntax):
				return nil, decoded, &Error{Source: source, Line: lineAt(data, int(syntax.Offset)), Err: err}
			case errors.Is(err, io.ErrUnexpectedEOF):
				return nil, decoded, &Error{Source: source, Line: lineAt(data, len(data)), Err: errors.New("unexpected end of JSON input")}
			default:
				return nil, decoded, &Error{Source: source, Line: start, Err: err}
			}
		}
		decoded++
		if len(raw) > r.maxDocument {
			return nil, decoded, r.documentTooLarge(source, start)
		}
		var v any
		strict, err := kjson.UnmarshalStrict(raw, &v, kjson.DisallowDuplicateFields)
		if err != nil {
			return nil, decoded, &Error{Source: source, Line: start, Err: err}
		}
		if len(strict) > 0 {
			return nil, decoded, &Error{Source: source, Line: start, Err: fmt.Errorf("json: %w", strict[0])}
		}
		found, err := r.documents(source, start, raw, frame{text: raw, line: start})
		if err != nil {
			return nil, decoded, err
		}
		docs = append(docs, found...)
	}
}

// lineAt is the 1-based line of byte offset in data.
func lineAt(data []byte, offset int) int {
	offset = min(max(offset, 0), len(data))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

func (r reader) documentTooLarge(source string, line int) error {
	return &Error{Source: source, Line: line, Err: fmt.Errorf("%w: over the limit of %s for a document", ErrTooLarge, size(r.maxDocument))}
}
