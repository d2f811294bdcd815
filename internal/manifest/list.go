package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	kjson "sigs.k8s.io/json"
)

// documents turns one JSON value read at source:line into the documents it
// holds: none for null (an empty or comment-only document), the items of a
// List, or itself.
func (r reader) documents(source string, line int, raw []byte, at frame) ([]Document, error) {
	if len(raw) > r.maxDocument {
		return nil, r.documentTooLarge(source, line)
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &Error{Source: source, Line: line, Err: errors.New("a manifest document must be an object")}
	}
	var head struct {
		Kind  string           `json:"kind"`
		Items *json.RawMessage `json:"items"`
	}
	// Case-sensitive, as the API server reads "kind" and "items".
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &head); err != nil {
		return nil, &Error{Source: source, Line: line, Err: fmt.Errorf("reading kind: %w", err)}
	}
	// A kind that merely ends in "List" (a custom AllowList) but has no
	// items is an object of its own.
	if !strings.HasSuffix(head.Kind, "List") || head.Items == nil {
		return []Document{{Source: source, Line: line, Raw: raw, at: at}}, nil
	}
	var items []json.RawMessage
	if err := kjson.UnmarshalCaseSensitivePreserveInts(*head.Items, &items); err != nil {
		return nil, &Error{Source: source, Line: line, Err: fmt.Errorf("%s: items must be an array of objects", head.Kind)}
	}
	var docs []Document
	for i, item := range items {
		found, err := r.documents(source, line, item, at.item(i))
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Err = fmt.Errorf("%s item %d: %w", head.Kind, i, e.Err)
			}
			return nil, err
		}
		docs = append(docs, found...)
	}
	return docs, nil
}
