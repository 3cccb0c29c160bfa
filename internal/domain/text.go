package domain

import (
	"strings"
	"unicode/utf8"
)

// Truncate returns s cut to at most n bytes on a character boundary, with
// invalid UTF-8 replaced first: a byte slice s[:n] can split a character,
// and Table Storage refuses the invalid string that leaves.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// BodyPrefix is the first bytes of a message body (at most n), for a
// rejection record: cut on a character boundary, invalid bytes replaced.
func BodyPrefix(body []byte, n int) string {
	if len(body) > n+utf8.UTFMax {
		body = body[:n+utf8.UTFMax]
	}
	return Truncate(string(body), n)
}

// TruncateMarked is Truncate with "…" appended when it cut something: for
// text a person reads (a page, an audit detail), where a silent cut would
// pass for the whole message. The result may exceed n by the marker's 3 bytes.
func TruncateMarked(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Truncate(s, n) + "…"
}
