package email

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

const (
	// maxSubjectRunes keeps subjects whole in Outlook's list and in mail
	// headers; longer ones are cut with an ellipsis.
	maxSubjectRunes = 150
	// maxNameRunes bounds names shown in text so one silly value cannot
	// flood an email; real names are far shorter.
	maxNameRunes = 200
	// maxFreeTextRunes bounds reasons, details and fact values.
	maxFreeTextRunes = 4000
)

// isLineBreak reports the characters that mail clients and terminals may
// show as a new line.
func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// isInvisibleControl is the domain's one rule for characters that must
// never reach a reader (controls, bidi overrides and other format
// characters), shared with pages and PowerShell comments.
func isInvisibleControl(r rune) bool { return domain.IsHiddenRune(r) }

// oneLine makes s safe for a single labelled line: line breaks and other
// controls become spaces, runs of white space collapse to one space and
// invalid UTF-8 becomes U+FFFD. A value can then never start a line of its
// own (for example a fake "Link: http://..." line in the plain text).
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isLineBreak(r) || r == '\t' || unicode.IsSpace(r) {
			space = true
			continue
		}
		if isInvisibleControl(r) {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// multiLine keeps the line structure of s (normalised to \n) but removes
// other controls, trailing spaces and leading/trailing blank lines. Tabs
// become four spaces so text and HTML line up the same way.
func multiLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case isLineBreak(r):
			b.WriteByte('\n')
		case r == '\t':
			b.WriteString("    ")
		case isInvisibleControl(r):
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// clip cuts s to at most n runes, preferring a word boundary, and marks the
// cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)[:n-1]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)*2/3 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ") + "…"
}

// name cleans a customer-supplied name for display on one line, with the
// domain's sanitiser (the same as pages and scripts), then bounds it.
func name(s string) string { return clip(domain.CleanDisplayText(s), maxNameRunes) }

// freeText cleans a customer- or system-supplied sentence for one line.
func freeText(s string) string { return clip(oneLine(s), maxFreeTextRunes) }

// subjectLine makes a mail subject: one line, no controls, capped.
func subjectLine(s string) string { return clip(oneLine(s), maxSubjectRunes) }

// formatTime writes t in UTC with the zone spelled out, e.g.
// "2 December 2026 14:05 UTC": unambiguous for readers in any country.
func formatTime(t time.Time) string {
	return t.UTC().Format("2 January 2006 15:04") + " UTC"
}

// formatDate writes the UTC date only, e.g. "2 December 2026".
func formatDate(t time.Time) string {
	return t.UTC().Format("2 January 2006")
}

// until says how far ahead t is from now in words: "in 14 days",
// "in 5 hours", "in 12 minutes". Days are rounded to the nearest day so a
// 14-day link sent a minute after it was made still reads "in 14 days".
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d >= 48*time.Hour:
		return "in " + plural(int((d+12*time.Hour)/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return "in " + plural(int((d+30*time.Minute)/time.Hour), "hour")
	default:
		return "in " + plural(max(1, int((d+time.Minute-1)/time.Minute)), "minute")
	}
}

// daysAgo says how long ago t was: "9 days ago", "1 day ago", "earlier today".
func daysAgo(now, t time.Time) string {
	days := int(now.Sub(t) / (24 * time.Hour))
	if days < 1 {
		return "earlier today"
	}
	return plural(days, "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// webURL checks that s is an absolute http(s) URL without spaces or
// controls, the only kind of link these emails carry.
func webURL(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || isInvisibleControl(r) }) {
		return fmt.Errorf("must not contain spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("must be an absolute http(s) URL without user information")
	}
	return nil
}
