package email

import "testing"

// TestNamesUseTheDomainSanitiser: emails apply the same rule as pages and
// scripts (every format character goes, not only the bidi overrides this
// package once listed itself).
func TestNamesUseTheDomainSanitiser(t *testing.T) {
	for in, want := range map[string]string{
		"Con\u200Btoso\u00AD Ltd":          "Contoso Ltd", // zero-width space, soft hyphen
		"\u2066Contoso\u2069 \u202ELtd":    "Contoso Ltd",
		"Contoso\u2028Ltd\u061C\U000E0041": "Contoso Ltd", // line separator, Arabic letter mark, tag character
	} {
		if got := name(in); got != want {
			t.Errorf("name(%q) = %q, want %q", in, got, want)
		}
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
