package manifest

import (
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// frame is where a document was written: the YAML document or JSON value
// of the source it came from (from line on), and the path to the document
// inside it (a List's item).
type frame struct {
	text []byte
	line int
	path []string
}

func (f frame) item(i int) frame {
	f.path = append(append([]string(nil), f.path...), "items", strconv.Itoa(i))
	return f
}

// LineOf is the 1-based line in Source of the field at pointer (an RFC
// 6901 JSON pointer into Raw, such as an image use's), so a CI annotation
// lands on the `image:` line itself; the document's Line when the field
// cannot be placed. The source is parsed only when asked.
func (d Document) LineOf(pointer string) int {
	if len(d.at.text) == 0 || !strings.HasPrefix(pointer, "/") {
		return d.Line
	}
	var root yaml.Node
	if err := yaml.Unmarshal(d.at.text, &root); err != nil || len(root.Content) == 0 {
		return d.Line
	}
	n := root.Content[0]
	segments := append(append([]string(nil), d.at.path...), strings.Split(pointer[1:], "/")...)
	for _, seg := range segments {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		n = child(n, seg)
		if n == nil {
			return d.Line
		}
	}
	return d.at.line + n.Line - 1
}

// child is a mapping's value under key, or a sequence's element at index.
func child(n *yaml.Node, seg string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}
