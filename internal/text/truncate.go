// Package text holds the string helpers every message shares: shortening
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
	return s[:cut] + ellipsis
}

// ellipsis marks where text was cut.
const ellipsis = "…"

// TruncateBytes shortens s to at most n bytes, the last of them "…",
// cutting between runes: for limits the API counts in bytes (an Event's
// note). n below the ellipsis's three bytes counts as three.
func TruncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, len(ellipsis)) - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
