package consent

import (
	"testing"
	"unicode/utf8"
)

// Audit reasons are cut to a size; the cut must not split a character
// (error descriptions from Microsoft can be localised).
func TestTruncateKeepsCharactersWhole(t *testing.T) {
	got := ellipsize("Zustimmung für ‘Contoso’ verweigert", 17)
	if !utf8.ValidString(got) || got != "Zustimmung für …" {
		t.Errorf("ellipsize = %q, want the cut before the split character, marked", got)
	}
	if got := ellipsize("short", 17); got != "short" {
		t.Errorf("ellipsize of a short string = %q", got)
	}
}
