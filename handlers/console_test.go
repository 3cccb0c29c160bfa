package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/config"
)

// The server mounts the console at /console/ with the settings' values.
func TestConsoleRoute(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("http://127.0.0.1:7071")
	srv := New(Deps{Config: &config.Config{AuthorityHost: "https://127.0.0.1:7443/", OperatorTenantID: "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f",
		ConsoleClientID: "9c1f4e2a-7b3d-4e5f-8a6b-0c1d2e3f4a5b", AdminAPIAudience: "api://onemeeting-cvi-admin", PublicBaseURL: base}, Admin: http.NotFoundHandler()})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	res, err := http.Get(ts.URL + "/console/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var cfg struct {
		Authority, ClientID, RedirectURI string
	}
	if err := json.NewDecoder(res.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || cfg.ClientID != "9c1f4e2a-7b3d-4e5f-8a6b-0c1d2e3f4a5b" || cfg.RedirectURI != "http://127.0.0.1:7071/console/" ||
		cfg.Authority != "https://127.0.0.1:7443/0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f" {
		t.Errorf("config.json: %d %+v", res.StatusCode, cfg)
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "connect-src 'self' https://127.0.0.1:7443") {
		t.Errorf("CSP %q", res.Header.Get("Content-Security-Policy"))
	}
	head, err := http.Head(ts.URL + "/console/tenants")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 && head.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEAD /console/tenants: %d", head.StatusCode)
	}
}
