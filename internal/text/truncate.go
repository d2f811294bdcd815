// Package text holds the string helper every message shares: shortening
// what a registry, a plugin or a user wrote before it is quoted, so a
// hostile answer cannot fill a warning, a log line or an event.
package text

import "unicode/utf8"

// Truncate shortens s to at most n runes, the last of them "…", cutting
// between runes: never inside a UTF-8 sequence, so what is quoted stays
// valid text. n below 1 counts as 1.
func Truncate(s string, n int) string {
	n = max(n, 1)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut, runes := 0, 0
	for i := range s {
		if runes == n-1 {
			cut = i
			break
		}
		runes++
	}
	return s[:cut] + "…"
}
