package console

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

var testCfg = Config{
	AuthorityHost: "https://127.0.0.1:7443/", TenantID: "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f",
	ClientID: "9c1f4e2a-7b3d-4e5f-8a6b-0c1d2e3f4a5b", APIAudience: "api://onemeeting-cvi-admin",
	PublicBaseURL: "http://127.0.0.1:7071",
}

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":                {Data: []byte(`<!doctype html><script type="module" src="/console/assets/index-B3x_9aZq.js"></script>`)},
		"assets/index-B3x_9aZq.js":  {Data: bytes.Repeat([]byte("console.log(1);\n"), 200)},
		"assets/index-Cq81nW_e.css": {Data: []byte("body{}")},
		"favicon.svg":               {Data: []byte("<svg/>")},
		placeholder:                 {Data: []byte("placeholder")},
	}
}

func newHandler(t *testing.T, cfg Config, files fstest.MapFS) *Handler {
	t.Helper()
	h, err := NewFS(cfg, files)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:7071/", nil)
	req.URL.Path = path // unclean on purpose in traversal tests
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCaching(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	for path, want := range map[string]string{
		"/console/":                          "no-cache",
		"/console/index.html":                "no-cache",
		"/console/tenants/abc":               "no-cache",
		"/console/assets/index-B3x_9aZq.js":  "public, max-age=31536000, immutable",
		"/console/assets/index-Cq81nW_e.css": "public, max-age=31536000, immutable",
		"/console/favicon.svg":               "no-cache", // not content-hashed
		"/console/config.json":               "no-cache",
	} {
		res := get(t, h, path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", path, res.StatusCode)
		}
		if got := res.Header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
	}
	if ct := get(t, h, "/console/assets/index-B3x_9aZq.js").Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("js Content-Type %q", ct)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	for _, path := range []string{"/console/", "/console/assets/index-B3x_9aZq.js", "/console/nope.js", "/console/config.json"} {
		res := get(t, h, path)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';",
			"connect-src 'self' https://127.0.0.1:7443;", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline/eval: %q", path, csp)
		}
		if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", path, got)
		}
	}
}

func TestSPAFallback(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	index := body(t, get(t, h, "/console/index.html"))
	for _, path := range []string{"/console/", "/console/tenants", "/console/tenants/3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10/", "/console/README.txt"} {
		res := get(t, h, path)
		if got := body(t, res); res.StatusCode != 200 || got != index {
			t.Errorf("%s: %d %q, want index.html", path, res.StatusCode, got)
		}
	}
	// Things that look like files are not papered over with index.html.
	for _, path := range []string{"/console/assets/index-XXXXXXXX.js", "/console/assets/gone", "/console/robots.txt"} {
		if res := get(t, h, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, res.StatusCode)
		}
	}
	if res := get(t, h, "/console"); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestPathTraversalRefused(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	for _, path := range []string{"/console/../secret", "/console/assets/../../secret", "/console/./index.html",
		"/console/assets//index-B3x_9aZq.js", "/console/a\\..\\secret", "/console/a\x00b"} {
		res := get(t, h, path)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", path, res.StatusCode)
		}
	}
}

func TestMissingBuildExplainsHowToBuild(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, fstest.MapFS{placeholder: {Data: []byte("x")}})
	for _, path := range []string{"/console/", "/console/tenants", "/console/assets/index-B3x_9aZq.js"} {
		res := get(t, h, path)
		b := body(t, res)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "make console") {
			t.Errorf("%s: %d %q, want 503 naming make console", path, res.StatusCode, b)
		}
		if strings.Contains(b, "<script") || strings.Contains(b, "style") {
			t.Errorf("%s: the page must hold no script or style: %q", path, b)
		}
	}
}

// The package's own embedded site compiles and serves, built or not.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	h, err := New(testCfg)
	if err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "/console/")
	if h.Built() {
		if res.StatusCode != 200 {
			t.Errorf("built console: status %d", res.StatusCode)
		}
	} else if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body(t, res), "make console") {
		t.Errorf("unbuilt console: status %d", res.StatusCode)
	}
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	res := get(t, h, "/console/config.json")
	var c spaConfig
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := spaConfig{Authority: "https://127.0.0.1:7443/0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f", KnownAuthorities: []string{"127.0.0.1:7443"},
		ClientID: testCfg.ClientID, Scopes: []string{"api://onemeeting-cvi-admin/access_as_user"}, APIBase: "/api/admin",
		RedirectURI: "http://127.0.0.1:7071/console/", PostLogoutRedirectURI: "http://127.0.0.1:7071/console/", Sandbox: true}
	if got, _ := json.Marshal(c); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("config.json = %s\nwant %s", got, must(json.Marshal(want)))
	}
}

func TestConsoleOffWithoutClientID(t *testing.T) {
	t.Parallel()
	cfg := testCfg
	cfg.ClientID = ""
	h := newHandler(t, cfg, builtFS())
	if res := get(t, h, "/console/"); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body(t, res), "CONSOLE_CLIENT_ID") {
		t.Errorf("index without client ID: %d", res.StatusCode)
	}
	if res := get(t, h, "/console/config.json"); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("config.json without client ID: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	h := newHandler(t, testCfg, builtFS())
	res := get(t, h, "/console/assets/index-B3x_9aZq.js", "Accept-Encoding", "gzip, br")
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, builtFS()["assets/index-B3x_9aZq.js"].Data) {
		t.Error("gzip body differs from the file")
	}
	if res := get(t, h, "/console/assets/index-B3x_9aZq.js"); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzip without Accept-Encoding")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
