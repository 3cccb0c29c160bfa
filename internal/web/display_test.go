package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPagesStripHiddenCharacters: a stored name with a right-to-left
// override, isolates and a zero-width space reaches the page without them.
func TestPagesStripHiddenCharacters(t *testing.T) {
	r, err := NewRenderer(testBranding)
	if err != nil {
		t.Fatal(err)
	}
	name := "Contoso \u202Egnp.exe\u202C \u2066Ltd\u2069\u200B"
	for _, p := range []Page{
		ConsentGrantedPage{CustomerName: name, TenantID: "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", TenantKey: "1@eu.example.net",
			InstructionURI: "https://join.example.net/1", AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", Script: "Write-Host 'x'"},
		ConsentDeclinedPage{CustomerName: name, ErrorCode: "access_denied"},
		ConsentDegradedPage{CustomerName: name},
		ConsentPendingPage{CustomerName: name},
	} {
		w := httptest.NewRecorder()
		r.Render(w, http.StatusOK, p)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%T: status %d", p, w.Code)
		}
		for _, hidden := range []string{"\u202E", "\u202C", "\u2066", "\u2069", "\u200B"} {
			if strings.Contains(body, hidden) {
				t.Errorf("%T: page holds U+%04X", p, []rune(hidden)[0])
			}
		}
		if !strings.Contains(body, "Contoso gnp.exe Ltd") {
			t.Errorf("%T: cleaned name missing from the page", p)
		}
	}
}
