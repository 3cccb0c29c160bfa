package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// A description longer than the page's bound is cut on a character boundary
// and the cut is marked; one within the bound is shown whole.
func TestDeclinedDescriptionIsCutAndMarked(t *testing.T) {
	r := newTestRenderer(t)
	render := func(desc string) string {
		w := httptest.NewRecorder()
		r.Render(w, http.StatusOK, ConsentDeclinedPage{CustomerName: "Contoso Ltd", ErrorCode: "access_denied", ErrorDescription: desc})
		body := w.Body.String()
		_, desc, ok := strings.Cut(body, `<code id="error-description">`)
		desc, _, closed := strings.Cut(desc, "</code>")
		if !ok || !closed {
			t.Fatalf("no description on the page:\n%s", body)
		}
		return desc
	}
	long := strings.Repeat("é", 1500) + "TAIL" // 3004 bytes
	got := render(long)
	if !strings.HasSuffix(got, "…") || strings.Contains(got, "TAIL") || !utf8.ValidString(got) {
		t.Errorf("long description shown as %d bytes ending %q", len(got), got[max(0, len(got)-12):])
	}
	if want := strings.Repeat("é", 1000) + "…"; got != want {
		t.Errorf("long description cut at %d bytes, want 2000 bytes and the marker", len(got))
	}
	if got := render("AADSTS65004 declined"); got != "AADSTS65004 declined" {
		t.Errorf("short description shown as %q", got)
	}
}
