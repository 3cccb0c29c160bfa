package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func notInAzure(string) (string, bool) { return "", false }

type recorded struct {
	Method     string
	Path       string // escaped path
	RawQuery   string
	Header     http.Header
	Body       []byte
	RemoteAddr string
	At         time.Time
}

// invocation is a decoded non-HTTP invocation payload.
type invocation struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

func (r recorded) invocation(t *testing.T) invocation {
	t.Helper()
	var inv invocation
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatalf("invocation body %s: %v", r.Body, err)
	}
	return inv
}

type respondFunc func(w http.ResponseWriter, r *http.Request, body []byte)

// fakeHandler is a custom handler stand-in that records every request but GET /.
type fakeHandler struct {
	t       *testing.T
	srv     *httptest.Server
	respond respondFunc
	mu      sync.Mutex
	reqs    []recorded
}

func okResponse(w http.ResponseWriter, _ *http.Request, _ []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"Outputs":{},"Logs":[],"ReturnValue":null}`)
}

func newFakeHandler(t *testing.T, respond respondFunc) *fakeHandler {
	t.Helper()
	if respond == nil {
		respond = okResponse
	}
	f := &fakeHandler{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{
			Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
			Body: body, RemoteAddr: r.RemoteAddr, At: time.Now(),
		})
		f.mu.Unlock()
		f.respond(w, r, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// requests returns the recorded requests whose path is path (all when empty).
func (f *fakeHandler) requests(path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// functionsDir writes name → function.json content into a temp functions folder.
func functionsDir(t *testing.T, fns map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range fns {
		writeFile(t, filepath.Join(dir, name, "function.json"), content)
	}
	return dir
}

type fixture struct {
	h    *Host
	fake *fakeHandler
	logs *testkit.SyncBuffer
}

// startHost starts a Host on a free loopback port in front of a fake handler.
func startHost(t *testing.T, fns map[string]string, respond respondFunc, configure func(*Config)) *fixture {
	t.Helper()
	fake := newFakeHandler(t, respond)
	logs := &testkit.SyncBuffer{}
	cfg := Config{
		FunctionsDir: functionsDir(t, fns),
		HandlerURL:   fake.srv.URL,
		ListenAddr:   "127.0.0.1:0",
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LookupEnv:    notInAzure,
	}
	if configure != nil {
		configure(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{h: h, fake: fake, logs: logs}
}

func waitIdle(t *testing.T, h *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// noRedirectClient returns redirects as they are.
func noRedirectClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func do(t *testing.T, method, url, body string, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirectClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

const (
	provisionFn = `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"provisioning","connection":"ServiceBusConnection"}]}`
	timerFarFn  = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 0 1 1 *","runOnStartup":false,"useMonitor":true}]}`
)

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// queueBody decodes Data.<binding> of a serviceBusTrigger invocation, which the
// real host always sends as exactly two levels of JSON string around the body.
func queueBody(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var level1, level2 string
	if err := json.Unmarshal(raw, &level1); err != nil {
		t.Fatalf("Data value %s is not a JSON string: %v", raw, err)
	}
	if err := json.Unmarshal([]byte(level1), &level2); err != nil {
		t.Fatalf("Data value %s holds one level of JSON string, want two: %v", raw, err)
	}
	return level2
}
