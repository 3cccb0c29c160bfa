package consent

import (
	"testing"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Audit reasons are cut to a size; the cut must not split a character
// (error descriptions from Microsoft can be localised).
func TestTruncateKeepsCharactersWhole(t *testing.T) {
	got := domain.TruncateMarked("Zustimmung für ‘Contoso’ verweigert", 17)
	if !utf8.ValidString(got) || got != "Zustimmung für …" {
		t.Errorf("TruncateMarked = %q, want the cut before the split character, marked", got)
	}
	if got := domain.TruncateMarked("short", 17); got != "short" {
		t.Errorf("TruncateMarked of a short string = %q", got)
	}
}
