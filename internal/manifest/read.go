// Package manifest reads Kubernetes manifest files (YAML or JSON, one or many
// documents, Lists) into JSON documents, remembering where each came from so
// that `pullguard check` can point at the file and line of a finding.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Stdin is the path that names the standard input.
const Stdin = "-"

// Limits on what is read, so a mistaken path (a disk image, /dev/zero) ends
// in a clear error instead of exhausting memory.
const (
	// MaxSourceBytes bounds one file, or the standard input.
	MaxSourceBytes = 128 << 20
	// MaxDocumentBytes bounds one document, as written and as JSON (YAML
	// aliases can make the JSON far larger than the YAML).
	MaxDocumentBytes = 32 << 20
)

// Document is one Kubernetes object read from a manifest.
type Document struct {
	Source string // file path, or "-" for stdin
	Line   int    // 1-based line where the document starts in Source
	Raw    []byte // the document as JSON
	at     frame  // where it was written, for LineOf
}

// ErrTooLarge is wrapped by the error for a source or document over its limit.
var ErrTooLarge = errors.New("too large")

// Error is a failure to read a manifest, located in its source.
type Error struct {
	Source string
	// Line is the 1-based line of the problem, or 0 when the whole source
	// is at fault (missing, unreadable, too large).
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Source + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Err.Error())
}

func (e *Error) Unwrap() error { return e.Err }

// manifestExts are the extensions read when walking a directory; a file
// named explicitly is read whatever its name.
var manifestExts = []string{".yaml", ".yml", ".json"}

// Read reads the documents of files, of directories (recursively, files
// ending in .yaml, .yml or .json, in lexical order) and of stdin (the path
// "-"). Multi-document YAML ("---") and JSON streams are split, Lists
// (kinds ending in "List" that have items) are replaced by their items with
// the List's Source and Line, and empty or comment-only documents are
// skipped. The first problem met is returned as an *Error naming the
// source, and the line when there is one.
func Read(paths []string, stdin io.Reader) ([]Document, error) {
	return reader{stdin: stdin, maxSource: MaxSourceBytes, maxDocument: MaxDocumentBytes}.read(paths)
}

// reader holds what Read is given and its limits, which tests lower.
type reader struct {
	stdin       io.Reader
	maxSource   int
	maxDocument int
}

func (r reader) read(paths []string) ([]Document, error) {
	var docs []Document
	for _, p := range paths {
		sources, err := expandPath(p)
		if err != nil {
			return nil, err
		}
		for _, source := range sources {
			data, err := r.readSource(source)
			if err != nil {
				return nil, err
			}
			found, err := r.split(source, data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, found...)
		}
	}
	return docs, nil
}

// expandPath turns one argument into the sources it names.
func expandPath(p string) ([]string, error) {
	if p == Stdin {
		return []string{Stdin}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, sourceError(p, err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	// WalkDir visits entries in lexical order, which makes the output
	// deterministic. It does not follow symbolic links to directories, so
	// a link cycle cannot loop.
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return sourceError(path, err)
		}
		if d.IsDir() || !hasManifestExt(path) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			info, err := os.Stat(path)
			if err != nil {
				return sourceError(path, err)
			}
			if info.IsDir() {
				return nil
			}
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

func hasManifestExt(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range manifestExts {
		if ext == e {
			return true
		}
	}
	return false
}

// readSource reads a whole source, up to MaxSourceBytes.
func (r reader) readSource(source string) ([]byte, error) {
	in := r.stdin
	if source == Stdin {
		if in == nil {
			return nil, &Error{Source: source, Err: errors.New("no standard input to read")}
		}
	} else {
		f, err := os.Open(source)
		if err != nil {
			return nil, sourceError(source, err)
		}
		defer f.Close()
		in = f
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(in, int64(r.maxSource)+1)); err != nil {
		return nil, sourceError(source, err)
	}
	if buf.Len() > r.maxSource {
		return nil, &Error{Source: source, Err: fmt.Errorf("%w: over the limit of %s for a manifest file", ErrTooLarge, size(r.maxSource))}
	}
	return buf.Bytes(), nil
}

// sourceError names source once: an *fs.PathError about source itself
// already says the path, so only its cause is kept.
func sourceError(source string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == source {
		err = pe.Err
	}
	return &Error{Source: source, Err: err}
}

// size says a limit in the unit people think of it in.
func size(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
