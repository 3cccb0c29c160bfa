package entrasim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onemeeting/cvi-onboarding/internal/dev/browser"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// TestConsentPageInBrowser clicks through the page in Chromium: the CSP must
// allow the inline style and the redirect to the callback after the POST.
func TestConsentPageInBrowser(t *testing.T) {
	s := startSandbox(t)
	got := make(chan url.Values, 2)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" { // e.g. favicon.ico
			http.NotFound(w, r)
			return
		}
		got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>callback</title><p id="done">callback reached</p>`))
	}))
	defer cb.Close()
	ctx := browser.New(t, 90*time.Second)

	for _, button := range []string{"accept", "cancel"} {
		tenantID := testkit.GUID(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.AdminConsentURL(tenantID, testAppID, cb.URL+"/cb", "state-"+button))); err != nil {
			t.Fatal(err)
		}
		text := browser.BodyText(t, ctx)
		for _, want := range []string{"SANDBOX — simulated Microsoft sign-in, not Microsoft", "OneMeeting CVI (test)", tenantID, "Accept", "Cancel"} {
			if !strings.Contains(text, want) {
				t.Errorf("page text lacks %q", want)
			}
		}
		bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.sandbox-banner')).backgroundColor`))
		if err != nil || bg != "rgb(176, 0, 32)" {
			t.Errorf("banner background %q (%v): inline style blocked by CSP?", bg, err)
		}
		browser.Screenshot(t, ctx, button)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(button)), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
			t.Fatalf("click %s: %v", button, err)
		}
		q := <-got
		if q.Get("state") != "state-"+button {
			t.Errorf("%s callback query %v", button, q)
		}
		if button == "accept" && (q.Get("tenant") != tenantID || q.Get("error") != "" || q.Get("admin_consent") != "True") {
			t.Errorf("accept callback query %v", q)
		}
		if button == "cancel" && (q.Get("error") != "access_denied" || !strings.HasPrefix(q.Get("error_description"), "AADSTS65004") || q.Has("admin_consent")) {
			t.Errorf("cancel callback query %v", q)
		}
	}
}
