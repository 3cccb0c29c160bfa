package tablestore

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// checkKey enforces what Azure accepts in PartitionKey and RowKey: at most
// 1 KiB (UTF-16), valid UTF-8, and none of / \ # ? or control characters
// (U+0000-U+001F, U+007F-U+009F).
func checkKey(what, k string, emptyOK bool) error {
	if k == "" && !emptyOK {
		return fmt.Errorf("%s is empty", what)
	}
	if utf16Bytes(k) > maxKeyBytes {
		return fmt.Errorf("%s is longer than 1 KiB", what)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range k {
		if forbiddenInKey(r) {
			return fmt.Errorf("%s %q contains %q, which Azure forbids in keys", what, k, r)
		}
	}
	return nil
}

func forbiddenInKey(r rune) bool {
	return r == '/' || r == '\\' || r == '#' || r == '?' || r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// validKey turns a caller-supplied identifier into a key or a CodeInvalid
// error naming the field.
func validKey(field, k string) error {
	if err := checkKey(field, k, false); err != nil {
		return domain.FieldError(field, "%v", err)
	}
	return nil
}

// maxEscapedKey keeps escaped keys well inside the 1 KiB key limit.
const maxEscapedKey = 400

// escapeKey maps an arbitrary string to a key Azure accepts and that sorts
// and reads like the original: bytes outside [A-Za-z0-9-_.:@=+,] become %XX
// (so the mapping is injective). A result longer than maxEscapedKey becomes
// "~" + hex(SHA-256(s)); '~' is always escaped otherwise, so the two forms
// never collide. Callers keep the original string in a property.
func escapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isKeySafe(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
		if b.Len() > maxEscapedKey {
			return "~" + domain.Digest(s, 32)
		}
	}
	return b.String()
}

func isKeySafe(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-_.:@=+,", c) >= 0
}

// invertedTime makes newer times sort first: a fixed-width decimal of
// MaxInt64 minus the Unix nanoseconds (times before 1970 count as 1970).
func invertedTime(t time.Time) string {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return fmt.Sprintf("%019d", math.MaxInt64-ns)
}

// quote renders a string literal for an OData filter: single quotes doubled.
// Every filter value goes through it; nothing is concatenated raw.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Continuation tokens are base64url of "<kind>\n<part>\n<part>...". The
// kind stops a token of one listing from being fed to another. Parts are
// the service's NextPartitionKey/NextRowKey (or a tenant ID), which go back
// to Table Storage as query parameters; a crafted part Azure cannot parse
// would come back as a 400 we would report as our own bug (500), so every
// part is checked against the characters those values are made of
// (base64-like text, "1!12!QmVu..." on Azure) and their length before use.
const maxTokenPart = 1024

func encodeToken(kind string, parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\n" + strings.Join(parts, "\n")))
}

func decodeToken(token, kind string, n int) ([]string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, domain.FieldError("continuation", "is not a token this service issued")
	}
	parts := strings.Split(string(raw), "\n")
	if len(parts) != n+1 || parts[0] != kind {
		return nil, domain.FieldError("continuation", "is not a token for this listing")
	}
	for _, p := range parts[1:] {
		if !validTokenPart(p) {
			return nil, domain.FieldError("continuation", "is not a token this service issued")
		}
	}
	return parts[1:], nil
}

// validTokenPart admits what service continuations and our own keys are
// made of: ASCII letters, digits and -_.!*+/=~:,@% (no quotes, spaces,
// control characters, or #, ?, \ that Azure forbids in keys), 1 KiB at most.
func validTokenPart(p string) bool {
	if len(p) > maxTokenPart {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!*+/=~:,@%", c) >= 0) {
			return false
		}
	}
	return true
}

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageSize applies the default (0 → 100) and the 1..1000 range.
func pageSize(n int) (int, error) {
	if n == 0 {
		return defaultPageSize, nil
	}
	if n < 1 || n > maxPageSize {
		return 0, domain.FieldError("pageSize", "must be between 1 and %d", maxPageSize)
	}
	return n, nil
}
