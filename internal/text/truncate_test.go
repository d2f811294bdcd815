package text

import (
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"short", 5, "short"},
		{"longer", 5, "long…"},
		{"ééééé", 5, "ééééé"},
		{"éééééé", 5, "éééé…"},
		{"日本語のタグ", 3, "日本…"},
		{"abc", 1, "…"},
		{"a", 1, "a"},
		{"abc", 0, "…"},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.n)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > max(tt.n, 1) {
			t.Errorf("Truncate(%q, %d) = %q: not valid text of at most %d runes", tt.s, tt.n, got, max(tt.n, 1))
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("a\xffb registry answer", 4)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Truncate(s, n)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q cut a rune", s, n, got)
		}
		if utf8.RuneCountInString(got) > max(n, 1) {
			t.Fatalf("Truncate(%q, %d) = %q: more than %d runes", s, n, got, max(n, 1))
		}
	})
}
