package teststack

import (
	"io"
	"net/http"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// One stack answers through the local host; a second shares the sandbox and
// Azurite but not its tables or its host.
func TestStacksShareTheSandboxNotTheirTables(t *testing.T) {
	a := Start(t, Options{})
	b := Start(t, Options{Settings: map[string]string{"SUPPORT_EMAIL": "help@videosrv.net"}})
	resp, err := http.Get(a.BaseURL + "/api/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/healthz through the host = %d %s", resp.StatusCode, body)
	}
	if a.Sandbox != b.Sandbox || a.Azurite != b.Azurite || a.Sandbox != Sandbox(t) {
		t.Error("stacks do not share the test binary's sandbox and Azurite")
	}
	if a.Settings["TABLE_PREFIX"] == b.Settings["TABLE_PREFIX"] || a.BaseURL == b.BaseURL {
		t.Errorf("stacks share tables %q or host %s", a.Settings["TABLE_PREFIX"], a.BaseURL)
	}
	if b.Config.SupportEmail != "help@videosrv.net" || a.Config.SupportEmail != "support@videosrv.net" {
		t.Errorf("settings override: %q, default %q", b.Config.SupportEmail, a.Config.SupportEmail)
	}
}
