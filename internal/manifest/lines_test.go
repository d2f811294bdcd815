package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLineOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yamlSrc := `# Source: chart/templates/a.yaml
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: a
    image: a:1
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: b}
  spec:
    template:
      spec:
        initContainers:
        - name: i
          image: "i:1"
        containers:
        - name: b
          image: b:1
`
	jsonSrc := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},
 "spec":{"containers":[
  {"name":"j","image":"j:1"}]}}
`
	for name, src := range map[string]string{"a.yaml": yamlSrc, "j.json": jsonSrc} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := Read([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc     int
		pointer string
		want    int
	}{
		{0, "/spec/containers/0/image", 8},
		{0, "/spec/containers/0/name", 7},
		{1, "/spec/template/spec/initContainers/0/image", 21},
		{1, "/spec/template/spec/containers/0/image", 24},
		{2, "/spec/containers/0/image", 3},
		{0, "/spec/containers/5/image", 2}, // not there: the document's line
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	for _, tt := range tests {
		if got := docs[tt.doc].LineOf(tt.pointer); got != tt.want {
			t.Errorf("document %d LineOf(%q) = %d, want %d", tt.doc, tt.pointer, got, tt.want)
		}
	}
}
