package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

type pingStore struct{ domain.TenantStore }

func (pingStore) Ping(context.Context) error { return nil }

func testServer(t *testing.T, maxInFlight int, level slog.Level, admin http.Handler) (*Server, *testkit.SyncBuffer) {
	t.Helper()
	pages, err := web.NewRenderer(web.Branding{ServiceName: "OneMeeting CVI", SupportEmail: "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	return New(Deps{Config: &config.Config{HTTPMaxInFlight: maxInFlight}, Store: pingStore{}, Pages: pages, Admin: admin,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))}), logs
}

// TestInFlightBound: beyond HTTP_MAX_IN_FLIGHT requests at once, /api/...
// answers 503 with Retry-After at once (problem+json for the admin API, a
// small page otherwise); the health probe and the host's own GET / are
// exempt; a freed slot admits again.
func TestInFlightBound(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	s, logs := testServer(t, 2, slog.LevelInfo, admin)
	srv := httptest.NewServer(s)
	defer srv.Close()

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/api/admin/tenants")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the first two requests never reached the handler")
		}
	}

	// A refusal is immediate: a client that waits is a failure.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/api/admin/tenants")
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	var p struct {
		Type   string
		Status int
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || p.Status != 503 || !strings.HasSuffix(p.Type, ":unavailable") {
		t.Errorf("admin request over the bound: %d %q %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), p)
	}
	resp, err = client.Get(srv.URL + "/api/join/123456789")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("page request over the bound: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, path := range []string{"/api/healthz", "/"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s while busy: %d, want 200 (exempt)", path, resp.StatusCode)
		}
	}

	close(release)
	wg.Wait()
	resp, err = http.Get(srv.URL + "/api/admin/tenants")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("after the load: %d, want the handler's 204", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "shedding load") {
		t.Errorf("no shedding-load warning in the log:\n%s", logs)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("refusals logged as errors:\n%s", logs)
	}
}

// TestAccessLog: durations in milliseconds (duration_ms), static assets at
// debug level only.
func TestAccessLog(t *testing.T) {
	s, logs := testServer(t, 10, slog.LevelInfo, http.NotFoundHandler())
	for _, path := range []string{"/api/assets/app.css", "/api/healthz"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, rec.Code)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 || lines[0]["path"] != "/api/healthz" {
		t.Fatalf("info-level request lines %v, want only /api/healthz", lines)
	}
	if _, ok := lines[0]["duration_ms"].(float64); !ok {
		t.Errorf("no numeric duration_ms: %v", lines[0])
	}
	if _, ok := lines[0]["duration"]; ok {
		t.Errorf("nanosecond duration still logged: %v", lines[0])
	}

	s, logs = testServer(t, 10, slog.LevelDebug, http.NotFoundHandler())
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/assets/app.css", nil))
	if !strings.Contains(logs.String(), `"level":"DEBUG","msg":"request"`) || !strings.Contains(logs.String(), "/api/assets/app.css") {
		t.Errorf("asset request not logged at debug:\n%s", logs)
	}
	// The console's hashed assets too (served 200 once built); its page is info.
	if lvl := levelFor(httptest.NewRequest("GET", "/console/assets/index-abc123.js", nil), http.StatusOK, false); lvl != slog.LevelDebug {
		t.Errorf("console asset logged at %v, want debug", lvl)
	}
	if lvl := levelFor(httptest.NewRequest("GET", "/console/", nil), http.StatusOK, false); lvl != slog.LevelInfo {
		t.Errorf("console page logged at %v, want info", lvl)
	}
}
