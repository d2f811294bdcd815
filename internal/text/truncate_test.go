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

func TestTruncateBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"short", 5, "short"},
		{"longer", 5, "lo…"},
		{"éé", 4, "éé"},
		{"ééé", 6, "ééé"},
		{"éééé", 6, "é…"},   // 3 bytes left for text: one é, not one and a half
		{"aaééé", 6, "aa…"}, // the cut would split the first é
		{"日本語", 8, "日…"},
		{"abcd", 1, "…"},
	}
	for _, tt := range tests {
		got := TruncateBytes(tt.s, tt.n)
		if got != tt.want {
			t.Errorf("TruncateBytes(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) || len(got) > max(tt.n, len(ellipsis)) {
			t.Errorf("TruncateBytes(%q, %d) = %q: not valid text of at most %d bytes", tt.s, tt.n, got, max(tt.n, len(ellipsis)))
		}
	}
}

func FuzzTruncateBytes(f *testing.F) {
	f.Add("a\xffb registry answer", 4)
	f.Add("aééééé", 1000)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := TruncateBytes(s, n)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("TruncateBytes(%q, %d) = %q cut a rune", s, n, got)
		}
		if len(got) > max(n, len(ellipsis)) && got != s {
			t.Fatalf("TruncateBytes(%q, %d) = %q: more than %d bytes", s, n, got, max(n, len(ellipsis)))
		}
	})
}
