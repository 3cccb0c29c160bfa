package consent

import (
	"testing"
	"unicode/utf8"
)

// Audit reasons are cut to a size; the cut must not split a character
// (error descriptions from Microsoft can be localised).
func TestTruncateKeepsCharactersWhole(t *testing.T) {
	got := truncate("Zustimmung für ‘Contoso’ verweigert", 17)
	if !utf8.ValidString(got) || got != "Zustimmung für …" {
		t.Errorf("truncate = %q, want the cut before the split character, marked", got)
	}
	if got := truncate("short", 17); got != "short" {
		t.Errorf("truncate of a short string = %q", got)
	}
}
