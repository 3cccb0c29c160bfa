package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The server serves the table's patterns and GET /, nothing else: the same
// routes as before the table (plus the admin API's bare root, which
// ServeHTTP sends to the admin API before the mux in any case).
func TestRoutesRegisterTheTable(t *testing.T) {
	t.Parallel()
	srv := New(Deps{Admin: http.NotFoundHandler()})
	got := srv.Patterns()
	slices.Sort(got)
	want := []string{
		"/api/admin", "/api/admin/{path...}",
		"GET /api/adminconsent", "GET /api/adminconsent/callback", "GET /api/assets/{name}", "GET /api/healthz",
		"GET /api/join/{code}", "GET /api/join/{code}/powershell", "GET /api/status/{token}",
		"GET /console", "GET /console/{path...}", "GET /{$}",
		"POST /ProvisionTenant", "POST /RelayEvents", "POST /RevalidateBatch", "POST /RevalidateConsent", "POST /SendEmail",
		"POST /api/status/{token}",
	}
	if !slices.Equal(got, want) {
		t.Errorf("registered patterns:\n got %s\nwant %s", strings.Join(got, " | "), strings.Join(want, " | "))
	}
}

func TestFunctionPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f    Function
		want []string
	}{
		{Function{Trigger: HTTP, Pattern: "/api/healthz", Methods: []string{"GET"}}, []string{"GET /api/healthz"}},
		{Function{Trigger: HTTP, Pattern: "/api/status/{token}", Methods: []string{"GET", "POST"}}, []string{"GET /api/status/{token}", "POST /api/status/{token}"}},
		// HEAD rides on GET; a catch-all also serves its bare root.
		{Function{Trigger: HTTP, Pattern: "/console/{path...}", Methods: []string{"GET", "HEAD"}}, []string{"GET /console/{path...}", "GET /console"}},
		{Function{Trigger: HTTP, Pattern: "/x", Methods: []string{"HEAD"}}, []string{"HEAD /x"}},
		{Function{Trigger: HTTP, Pattern: "/api/admin/{path...}"}, []string{"/api/admin/{path...}", "/api/admin"}},
		{Function{Name: "SendEmail", Trigger: ServiceBus, Pattern: "POST /SendEmail"}, []string{"POST /SendEmail"}},
		{Function{Name: "RelayEvents", Trigger: Timer, Pattern: "POST /RelayEvents"}, []string{"POST /RelayEvents"}},
	}
	for _, c := range cases {
		if got := c.f.Patterns(); !slices.Equal(got, c.want) {
			t.Errorf("%+v: Patterns() = %q, want %q", c.f, got, c.want)
		}
	}
}

// Patterns shows what the mux was given, however the pattern was written.
func TestPatternsRecordEveryRegistration(t *testing.T) {
	t.Parallel()
	m := &routeMux{ServeMux: http.NewServeMux()}
	dynamic := "GET /api/" + strings.ToLower("DYNAMIC")
	m.Handle(dynamic, http.NotFoundHandler())
	m.HandleFunc("POST /Other", func(http.ResponseWriter, *http.Request) {})
	s := &Server{mux: m}
	if got := s.Patterns(); !slices.Equal(got, []string{"GET /api/dynamic", "POST /Other"}) {
		t.Errorf("Patterns() = %q", got)
	}
	if _, p := m.Handler(&http.Request{Method: "GET", URL: mustURL(t, "/api/dynamic")}); p != "GET /api/dynamic" {
		t.Errorf("the recorded pattern is not served: matched %q", p)
	}
}

func mustURL(t *testing.T, path string) *url.URL {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
