package consistency

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// TestHTTPConcurrencyAgrees: the handler's in-flight bound (HTTP_MAX_IN_FLIGHT
// default), the host's (host.json extensions.http.maxConcurrentRequests) and
// Flex's per-instance HTTP concurrency (Bicep httpMaxInFlight, passed to
// scaleAndConcurrency.triggers.http.perInstanceConcurrency) are one number,
// so neither the host nor Flex sends an instance more than it admits.
func TestHTTPConcurrencyAgrees(t *testing.T) {
	root := testkit.Root(t)
	var def int
	for _, s := range config.Settings {
		if s.Name == "HTTP_MAX_IN_FLIGHT" {
			def, _ = strconv.Atoi(s.Default)
		}
	}
	if def < 1 {
		t.Fatal("internal/config declares no numeric HTTP_MAX_IN_FLIGHT default")
	}
	var host struct {
		Extensions struct {
			HTTP struct {
				MaxConcurrentRequests  int `json:"maxConcurrentRequests"`
				MaxOutstandingRequests int `json:"maxOutstandingRequests"`
			} `json:"http"`
		} `json:"extensions"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		t.Fatal(err)
	}
	h := host.Extensions.HTTP
	if h.MaxConcurrentRequests != def {
		t.Errorf("host.json extensions.http.maxConcurrentRequests = %d, want HTTP_MAX_IN_FLIGHT's default %d", h.MaxConcurrentRequests, def)
	}
	if h.MaxOutstandingRequests < h.MaxConcurrentRequests {
		t.Errorf("host.json maxOutstandingRequests %d < maxConcurrentRequests %d", h.MaxOutstandingRequests, h.MaxConcurrentRequests)
	}
	mainBicep, err := os.ReadFile(filepath.Join(root, "infra", "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^param httpMaxInFlight int = (\d+)$`).FindSubmatch(mainBicep)
	if m == nil {
		t.Fatal("infra/main.bicep: no `param httpMaxInFlight int = N`")
	}
	if n, _ := strconv.Atoi(string(m[1])); n != def {
		t.Errorf("infra/main.bicep httpMaxInFlight = %d, want %d", n, def)
	}
	for _, want := range []string{`HTTP_MAX_IN_FLIGHT: string(httpMaxInFlight)`, `httpPerInstanceConcurrency: httpMaxInFlight`} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).Match(mainBicep) {
			t.Errorf("infra/main.bicep lacks %q", want)
		}
	}
	fa, err := os.ReadFile(filepath.Join(root, "infra", "modules", "functionapp.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?s)triggers:\s*\{\s*http:\s*\{\s*perInstanceConcurrency: httpPerInstanceConcurrency`).Match(fa) {
		t.Error("infra/modules/functionapp.bicep: scaleAndConcurrency.triggers.http.perInstanceConcurrency is not httpPerInstanceConcurrency")
	}
}
