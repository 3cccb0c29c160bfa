package web

import "strings"

// MaxConferenceIDDigits bounds what NormalizeConferenceID accepts; Teams VTC
// conference IDs are far shorter, this only stops nonsense.
const MaxConferenceIDDigits = 32

// NormalizeConferenceID turns what a person typed or a link carried ("123 456
// 789", "123-456-789#") into digits only. ok is false when the result is not
// a plausible conference ID: empty, non-digits, or too long.
func NormalizeConferenceID(raw string) (id string, ok bool) {
	var b strings.Builder
	for _, c := range strings.TrimSpace(raw) {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-' || c == '\u00a0':
			// separators people copy from invites
		case c == '#':
			// some people type the IVR's terminator
		default:
			return "", false
		}
	}
	id = strings.TrimRight(b.String(), "#")
	if id == "" || len(id) > MaxConferenceIDDigits {
		return "", false
	}
	return id, true
}

// DirectDialAddress is <conference ID>.<tenant key code>@<domain>: the
// address that joins a meeting without the IVR prompt. It is "" when any part
// is missing.
func DirectDialAddress(conferenceID, tenantKey, domain string) string {
	conferenceID, domain = strings.TrimSpace(conferenceID), strings.TrimSpace(domain)
	code, _, _ := strings.Cut(strings.TrimSpace(tenantKey), "@")
	if conferenceID == "" || code == "" || domain == "" {
		return ""
	}
	return conferenceID + "." + code + "@" + domain
}
