package domain

import (
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// IsHiddenRune reports the characters no customer-supplied display string
// may carry to a reader: controls (Cc) and format characters (Cf), which
// include the bidirectional embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C), zero-width
// characters and the BOM. They can make a name read differently from what
// it is (Trojan Source, CVE-2021-42574). Zero-width joiners go too: a name
// loses at most a ligature, never a letter.
func IsHiddenRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r)
}

// isDisplaySpace reports characters shown as (or as a break between) words:
// white space, including line and paragraph separators.
func isDisplaySpace(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// CleanDisplayText is the one sanitiser of customer-supplied display strings
// (customer name, contact names): invalid UTF-8 becomes U+FFFD, hidden
// characters (IsHiddenRune) are removed, every run of white space and line
// breaks becomes one space, and the ends are trimmed. Intake stores the
// cleaned form; pages, emails and PowerShell comments show it, and the
// store applies it again on read for records written before the rule.
func CleanDisplayText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case isDisplaySpace(r):
			space = true
		case IsHiddenRune(r):
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// idnaProfile is IDNA2008 lookup with the UTS #46 mapping (the browser
// rules): case folding and width mapping, bidi and joiner rules checked,
// STD3 ASCII rules for host names.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// NormalizeDomainForms validates a DNS domain name, ASCII or Unicode
// (contoso.com, bücher.example, xn--bcher-kva.example), and returns its
// ASCII (punycode, A-label) form, used for matching and storage keys, and
// its Unicode (U-label) form, used for display. Both are lower case.
func NormalizeDomainForms(field, s string) (ascii, unicodeForm string, err error) {
	d := strings.TrimSuffix(strings.TrimSpace(s), ".")
	if d == "" {
		return "", "", FieldError(field, "must be a domain name of 1-253 characters")
	}
	if strings.ContainsFunc(d, func(r rune) bool { return IsHiddenRune(r) || isDisplaySpace(r) }) {
		return "", "", FieldError(field, "must not contain spaces, control or invisible formatting characters")
	}
	a, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", "", FieldError(field, "is not a valid internationalised domain name (%v)", idnaReason(err))
	}
	a = strings.ToLower(a)
	if err := validateHostname(a); err != nil {
		return "", "", FieldError(field, "%s", err.(*Error).Message)
	}
	u, err := idnaProfile.ToUnicode(a)
	if err != nil {
		return "", "", FieldError(field, "is not a valid internationalised domain name (%v)", idnaReason(err))
	}
	return a, u, nil
}

// idnaReason drops the package prefix and the echoed input from an idna
// error: the field name already says which value it was.
func idnaReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "idna: ")
	if i := strings.Index(msg, ` in "`); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
