package domain

import (
	"testing"
	"unicode/utf8"
)

func TestTruncateMarkedMarksOnlyACut(t *testing.T) {
	if got := TruncateMarked("Zustimmung für ‘Contoso’ verweigert", 17); !utf8.ValidString(got) || got != "Zustimmung für …" {
		t.Errorf("cut = %q, want the cut before the split character, marked", got)
	}
	if got := TruncateMarked("short", 5); got != "short" {
		t.Errorf("no cut = %q, want it unmarked", got)
	}
}
