package manifest

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles creates files (path → content) below a new temporary directory
// and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// doc is a Document with Raw as a string, for readable wants.
type doc struct {
	Source string
	Line   int
	Raw    string
}

// compact turns Read's documents into docs with compact JSON, so wants do
// not depend on the whitespace of a JSON source.
func compact(t *testing.T, dir string, docs []Document) []doc {
	t.Helper()
	var out []doc
	for _, d := range docs {
		var v any
		if err := json.Unmarshal(d.Raw, &v); err != nil {
			t.Fatalf("document %s:%d is not JSON: %v: %s", d.Source, d.Line, err, d.Raw)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		source := d.Source
		if rel, err := filepath.Rel(dir, d.Source); err == nil && d.Source != Stdin {
			source = filepath.ToSlash(rel)
		}
		out = append(out, doc{Source: source, Line: d.Line, Raw: string(b)})
	}
	return out
}

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		paths []string // relative to the directory; "." is the directory
		stdin string
		want  []doc
	}{
		{
			name: "multi-document YAML with separators, comments and empty documents",
			files: map[string]string{"app.yaml": `# leading comment
---
apiVersion: v1
kind: Pod
metadata: {name: a}
---
---
# only a comment
---

---   # a separator may carry a comment
apiVersion: v1
kind: Pod
metadata:
  name: b
`},
			paths: []string{"app.yaml"},
			want: []doc{
				{Source: "app.yaml", Line: 3, Raw: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`},
				{Source: "app.yaml", Line: 12, Raw: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}`},
			},
		},
		{
			name:  "a document's line is its first line of content; CRLF line ends",
			files: map[string]string{"crlf.yml": "kind: A\r\n---\r\n\r\nkind: B\r\n"},
			paths: []string{"crlf.yml"},
			want: []doc{
				{Source: "crlf.yml", Line: 1, Raw: `{"kind":"A"}`},
				{Source: "crlf.yml", Line: 4, Raw: `{"kind":"B"}`},
			},
		},
		{
			name:  "helm template output: separators in a row and Source comments",
			files: map[string]string{"rendered.yaml": "---\n---\n# Source: app/templates/a.yaml\nkind: A\n---\n# Source: app/templates/b.yaml\n\nkind: B\n"},
			paths: []string{"rendered.yaml"},
			want: []doc{
				{Source: "rendered.yaml", Line: 4, Raw: `{"kind":"A"}`},
				{Source: "rendered.yaml", Line: 8, Raw: `{"kind":"B"}`},
			},
		},
		{
			name:  "a JSON object",
			files: map[string]string{"pod.json": "\n\n  {\"apiVersion\": \"v1\",\n \"kind\": \"Pod\"}\n"},
			paths: []string{"pod.json"},
			want:  []doc{{Source: "pod.json", Line: 3, Raw: `{"apiVersion":"v1","kind":"Pod"}`}},
		},
		{
			name:  "a JSON stream",
			files: map[string]string{"stream.json": "{\"kind\": \"A\"}\n{\n  \"kind\": \"B\"\n}{\"kind\": \"C\"}\nnull\n"},
			paths: []string{"stream.json"},
			want: []doc{
				{Source: "stream.json", Line: 1, Raw: `{"kind":"A"}`},
				{Source: "stream.json", Line: 2, Raw: `{"kind":"B"}`},
				{Source: "stream.json", Line: 4, Raw: `{"kind":"C"}`},
			},
		},
		{
			name:  "YAML flow style that starts with a brace",
			files: map[string]string{"flow.yaml": "{kind: A, metadata: {name: x}}\n---\nkind: B\n"},
			paths: []string{"flow.yaml"},
			want: []doc{
				{Source: "flow.yaml", Line: 1, Raw: `{"kind":"A","metadata":{"name":"x"}}`},
				{Source: "flow.yaml", Line: 3, Raw: `{"kind":"B"}`},
			},
		},
		{
			name: "Lists are expanded to their items, nested ones too",
			files: map[string]string{"list.yaml": `kind: ConfigMap
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a}}
- apiVersion: v1
  kind: List
  items:
  - {kind: Service}
- null
`, "deployments.json": `{"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [{"kind": "Deployment", "metadata": {"name": "d"}}]}`},
			paths: []string{"list.yaml", "deployments.json"},
			want: []doc{
				{Source: "list.yaml", Line: 1, Raw: `{"kind":"ConfigMap"}`},
				{Source: "list.yaml", Line: 3, Raw: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`},
				{Source: "list.yaml", Line: 3, Raw: `{"kind":"Service"}`},
				{Source: "deployments.json", Line: 1, Raw: `{"kind":"Deployment","metadata":{"name":"d"}}`},
			},
		},
		{
			name: "a kind ending in List without items is an object of its own; an empty List has no documents",
			files: map[string]string{"allow.yaml": `{kind: AllowList, spec: {hosts: [a]}}
---
{kind: List, items: []}
`},
			paths: []string{"allow.yaml"},
			want:  []doc{{Source: "allow.yaml", Line: 1, Raw: `{"kind":"AllowList","spec":{"hosts":["a"]}}`}},
		},
		{
			name: "directories are walked in lexical order and only manifest files are read",
			files: map[string]string{
				"b.yaml":          "kind: B\n",
				"a/z.yml":         "kind: AZ\n",
				"a/deeper/y.JSON": `{"kind": "AY"}`,
				"a/README.md":     "# not: [yaml\n",
				"notes.txt":       "{{ not yaml",
				"c.yaml":          "# nothing here\n",
			},
			paths: []string{"."},
			want: []doc{
				{Source: "a/deeper/y.JSON", Line: 1, Raw: `{"kind":"AY"}`},
				{Source: "a/z.yml", Line: 1, Raw: `{"kind":"AZ"}`},
				{Source: "b.yaml", Line: 1, Raw: `{"kind":"B"}`},
			},
		},
		{
			name:  "a file named explicitly is read whatever its extension, in argument order",
			files: map[string]string{"rendered.out": "kind: R\n", "b.yaml": "kind: B\n"},
			paths: []string{"rendered.out", "b.yaml"},
			want: []doc{
				{Source: "rendered.out", Line: 1, Raw: `{"kind":"R"}`},
				{Source: "b.yaml", Line: 1, Raw: `{"kind":"B"}`},
			},
		},
		{
			name:  "stdin between files",
			files: map[string]string{"a.yaml": "kind: A\n"},
			paths: []string{"a.yaml", "-"},
			stdin: "---\nkind: S\n---\nkind: T\n",
			want: []doc{
				{Source: "a.yaml", Line: 1, Raw: `{"kind":"A"}`},
				{Source: "-", Line: 2, Raw: `{"kind":"S"}`},
				{Source: "-", Line: 4, Raw: `{"kind":"T"}`},
			},
		},
		{
			name:  "empty and comment-only sources",
			files: map[string]string{"empty.yaml": "", "comments.yaml": "# a\n---\n# b\n", "blank.json": "\n\n"},
			paths: []string{"."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tt.files)
			var paths []string
			for _, p := range tt.paths {
				if p != Stdin {
					p = filepath.Join(dir, p)
				}
				paths = append(paths, p)
			}
			docs, err := Read(paths, strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatalf("Read() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, compact(t, dir, docs)); diff != "" {
				t.Errorf("Read() documents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		// wantMsg is the error without the leading file path.
		wantMsg  string
		wantLine int
	}{
		{
			name:     "bad YAML in the second document",
			content:  "kind: A\n---\n# comment\nkind: B\nmetadata:\n  name: x\n  labels: a: b\n",
			wantMsg:  ":7: yaml: mapping values are not allowed in this context",
			wantLine: 7,
		},
		{
			name:     "a duplicated key",
			content:  "---\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: a:1\n    image: b:1\n",
			wantMsg:  `:7: yaml: key "image" already set in map`,
			wantLine: 7,
		},
		{
			name:     "a duplicated key in JSON",
			content:  "{\"kind\": \"A\"}\n{\"kind\": \"Pod\",\n \"kind\": \"Pod\"}\n",
			wantMsg:  `:2: json: duplicate field "kind"`,
			wantLine: 2,
		},
		{
			name:     "bad separator",
			content:  "kind: A\n---\nkind: B\n---kind: C\n",
			wantMsg:  ":4: invalid Yaml document separator: kind: C",
			wantLine: 4,
		},
		{
			name:     "JSON syntax error",
			content:  "{\"kind\": \"A\"}\n{\"kind\": \"B\",\n  \"x\": }\n",
			wantMsg:  ":3: invalid character '}' looking for beginning of value",
			wantLine: 3,
		},
		{
			name:     "truncated JSON",
			content:  "{\"kind\": \"A\"}\n{\"kind\":\n",
			wantMsg:  ":3: unexpected end of JSON input",
			wantLine: 3,
		},
		{
			name:     "a scalar document",
			content:  "kind: A\n---\njust a string\n",
			wantMsg:  ":3: a manifest document must be an object",
			wantLine: 3,
		},
		{
			name:     "a List item that is not an object",
			content:  "# list\nkind: List\nitems: [{kind: A}, 5]\n",
			wantMsg:  ":2: List item 1: a manifest document must be an object",
			wantLine: 2,
		},
		{
			name:     "List items that are not an array",
			content:  "kind: PodList\nitems: {kind: A}\n",
			wantMsg:  ":1: PodList: items must be an array of objects",
			wantLine: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, map[string]string{"app.yaml": tt.content})
			path := filepath.Join(dir, "app.yaml")
			docs, err := Read([]string{path}, nil)
			if err == nil {
				t.Fatalf("Read() = %d documents, want an error", len(docs))
			}
			if got, want := err.Error(), path+tt.wantMsg; got != want {
				t.Errorf("Read() error = %q, want %q", got, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Source != path || e.Line != tt.wantLine {
				t.Errorf("Read() error = %#v, want an *Error at %s:%d", err, path, tt.wantLine)
			}
		})
	}
}

func TestReadSourceErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"ok.yaml": "kind: A\n"})
	missing := filepath.Join(dir, "missing.yaml")

	_, err := Read([]string{filepath.Join(dir, "ok.yaml"), missing}, nil)
	if got, want := err.Error(), missing+": no such file or directory"; got != want {
		t.Errorf("Read(missing) error = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) error = %v, want one matching fs.ErrNotExist", err)
	}

	if _, err := Read([]string{Stdin}, nil); err == nil || err.Error() != "-: no standard input to read" {
		t.Errorf("Read(-) without stdin error = %v", err)
	}
}

func TestReadLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limits  reader
		stdin   string
		wantMsg string
	}{
		{
			name:    "source",
			limits:  reader{maxSource: 16, maxDocument: 16},
			stdin:   "kind: A\n---\nkind: B\n",
			wantMsg: "-: too large: over the limit of 16 bytes for a manifest file",
		},
		{
			name:    "YAML document",
			limits:  reader{maxSource: 100, maxDocument: 12},
			stdin:   "kind: A\n---\nkind: Bbbbbbbbb\n",
			wantMsg: "-:3: too large: over the limit of 12 bytes for a document",
		},
		{
			name:    "JSON document",
			limits:  reader{maxSource: 100, maxDocument: 12},
			stdin:   "{\"kind\":\"A\"}\n{\"kind\":\"Bbbbbbbbb\"}\n",
			wantMsg: "-:2: too large: over the limit of 12 bytes for a document",
		},
		{
			// Aliases make the JSON larger than the YAML it came from.
			name:    "JSON of a YAML document",
			limits:  reader{maxSource: 100, maxDocument: 40},
			stdin:   "a: &x [1, 2, 3, 4]\nb: [*x, *x, *x, *x]\n",
			wantMsg: "-:1: too large: over the limit of 40 bytes for a document",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.limits
			r.stdin = strings.NewReader(tt.stdin)
			_, err := r.read([]string{Stdin})
			if err == nil || err.Error() != tt.wantMsg {
				t.Errorf("read() error = %v, want %q", err, tt.wantMsg)
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("read() error = %v, want one wrapping ErrTooLarge", err)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add("kind: A\n---\nkind: List\nitems: [{kind: B}]\n")
	f.Add("{\"kind\": \"A\"}{\"kind\": \"B\"}")
	f.Add("a: &x [1]\nb: [*x, *x]\n---x\n")
	f.Add("# only\n---\n\n")
	f.Add("{a: 1}\n")
	f.Fuzz(func(t *testing.T, in string) {
		docs, err := Read([]string{Stdin}, strings.NewReader(in))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Source != Stdin {
				t.Errorf("Read() error = %#v, want an *Error naming stdin", err)
			}
			return
		}
		lines := strings.Count(in, "\n") + 1
		for _, d := range docs {
			if !json.Valid(d.Raw) || !strings.HasPrefix(string(d.Raw), "{") {
				t.Errorf("document %d is not a JSON object: %q", d.Line, d.Raw)
			}
			if d.Source != Stdin || d.Line < 1 || d.Line > lines {
				t.Errorf("document at %s:%d, want stdin within %d lines", d.Source, d.Line, lines)
			}
		}
	})
}

func TestReadSymlinks(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"real/a.yaml": "kind: A\n"})
	// A link to a file is read; a link to a directory is not followed, so a
	// loop cannot trap the walk.
	if err := os.Symlink(filepath.Join(dir, "real", "a.yaml"), filepath.Join(dir, "real", "b.yaml")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "real", "loop.yaml")); err != nil {
		t.Fatal(err)
	}
	docs, err := Read([]string{dir}, nil)
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	want := []doc{
		{Source: "real/a.yaml", Line: 1, Raw: `{"kind":"A"}`},
		{Source: "real/b.yaml", Line: 1, Raw: `{"kind":"A"}`},
	}
	if diff := cmp.Diff(want, compact(t, dir, docs)); diff != "" {
		t.Errorf("Read() documents (-want +got):\n%s", diff)
	}
}
