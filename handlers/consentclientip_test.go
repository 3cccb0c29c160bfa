package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// Both consent pages check the caller's address against the allow-list, so
// without a usable one (no platform-added X-Forwarded-For entry) each
// answers 400 before touching consent, says how to start again, and logs
// which step it was.
func TestConsentPagesWithoutAClientAddress(t *testing.T) {
	pages, err := web.NewRenderer(web.Branding{ServiceName: "OneMeeting CVI", SupportEmail: "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		handle  func(*Server) http.Handler
		path    string
		again   string
		logLine string
	}{
		{(*Server).handleAdminConsent, "/api/adminconsent?t=abc", "Please open the consent link from your email again.", "consent start without a usable client address"},
		{(*Server).handleConsentCallback, "/api/adminconsent/callback?state=x&code=y", "Please start again from the consent link in your email.", "consent callback without a usable client address"},
	} {
		logs := &testkit.SyncBuffer{}
		s := &Server{Deps: Deps{Config: &config.Config{TrustedProxyHops: 1}, Pages: pages, Logger: slog.New(slog.NewJSONHandler(logs, nil))}}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", c.path, nil)
		req.Header.Set("X-Forwarded-For", "not-an-address")
		c.handle(s).ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest || !strings.Contains(body, "We could not tell where your request came from") || !strings.Contains(body, c.again) {
			t.Errorf("%s: %d\n%s", c.path, rec.Code, body)
		}
		if !strings.Contains(logs.String(), c.logLine) {
			t.Errorf("%s: log %q; want %q", c.path, logs.String(), c.logLine)
		}
	}
}
