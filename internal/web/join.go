package web

import (
	"html/template"
	"regexp"
	"strings"
)

// Video IDs are what Teams invites show in their video conferencing section
// ("Video ID", formerly "VTC conference ID"; not the audio conference ID).
// Real ones are about 9 to 12 digits; the bounds only stop nonsense.
const (
	MinVideoIDDigits = 4
	MaxVideoIDDigits = 20
)

// confIDPlaceholder is the text Teams replaces with the Video ID in the
// provider's InstructionUri (domain.ConfIDPlaceholder); a link opened outside
// an invite (or from a provider listing) still carries it.
const confIDPlaceholder = "{ConfId}"

// IsConfIDPlaceholder reports whether raw is the unreplaced {ConfId}, as it
// arrives decoded or (from clients that encode twice) still percent-encoded.
func IsConfIDPlaceholder(raw string) bool {
	raw = strings.TrimSpace(raw)
	return strings.EqualFold(raw, confIDPlaceholder) || strings.EqualFold(raw, "%7BConfId%7D")
}

// NormalizeVideoID turns what a person typed or a link carried ("123 456
// 789", "123-456-789#") into digits only. ok is false when the result is not
// a plausible Video ID: empty, non-digits, too short or too long.
func NormalizeVideoID(raw string) (id string, ok bool) {
	if len(raw) > 4*MaxVideoIDDigits {
		return "", false
	}
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
	id = b.String()
	if len(id) < MinVideoIDDigits || len(id) > MaxVideoIDDigits {
		return "", false
	}
	return id, true
}

// DirectDialAddress is <Video ID>.<tenant key>: the address that joins one
// meeting without the IVR prompt. domain, when set, replaces the tenant key's
// own domain. It is "" when any part is missing.
func DirectDialAddress(videoID, tenantKey, domain string) string {
	videoID, domain = strings.TrimSpace(videoID), strings.TrimSpace(domain)
	code, keyDomain, _ := strings.Cut(strings.TrimSpace(tenantKey), "@")
	if domain == "" {
		domain = keyDomain
	}
	if videoID == "" || code == "" || domain == "" {
		return ""
	}
	return videoID + "." + code + "@" + domain
}

// sipAddressPattern is what a direct-dial address built from a valid Video
// ID, a numeric key code and a host name looks like; only such an address
// becomes a sip: link.
var sipAddressPattern = regexp.MustCompile(`^[0-9]+\.[0-9A-Za-z]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// sipURI returns the sip: link for addr, or "" when addr is not a plain
// direct-dial address (html/template refuses other schemes unless typed).
func sipURI(addr string) template.URL {
	if !sipAddressPattern.MatchString(addr) {
		return ""
	}
	return template.URL("sip:" + addr)
}
