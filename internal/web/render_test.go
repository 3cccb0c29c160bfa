package web

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"Referrer-Policy":            "no-referrer",
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Strict-Transport-Security":  "max-age=63072000; includeSubDomains",
		"Permissions-Policy":         "camera=(), microphone=(), geolocation=()",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Content-Type":               "text/html; charset=utf-8",
	}
	for _, c := range allPages() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			r.Render(w, c.status, c.page)
			if w.Code != c.status {
				t.Errorf("status = %d, want %d", w.Code, c.status)
			}
			for k, v := range want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			cc := w.Header().Get("Cache-Control")
			if c.consent() {
				if cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store on a consent/error page", cc)
				}
			} else if strings.Contains(cc, "no-store") || !strings.Contains(cc, "max-age=") {
				t.Errorf("Cache-Control = %q, want short caching on the join page", cc)
			}
			if got, want := w.Header().Get("Content-Length"), len(w.Body.Bytes()); got != strconv.Itoa(want) {
				t.Errorf("Content-Length = %s, body is %d bytes", got, want)
			}
		})
	}
}

// TestServedHTMLFollowsCSP parses every page, realistic and hostile, and
// checks the markup itself: nothing the CSP would block, and the basic
// accessibility structure.
func TestServedHTMLFollowsCSP(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, c := range allPages() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			r.Render(w, c.status, c.page)
			lintHTML(t, w.Body.String())
		})
	}
}

func lintHTML(t *testing.T, doc string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(doc))
	var (
		h1s, viewports int
		lang           string
		inScript       bool
		ids            = map[string]int{}
		labelFor       = map[string]bool{}
		inputs         []string
	)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenize: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			if inScript && strings.TrimSpace(tok.Data) != "" {
				t.Errorf("inline script content %q", tok.Data)
			}
		case html.EndTagToken:
			if tok.Data == "script" {
				inScript = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
				switch {
				case strings.HasPrefix(a.Key, "on"):
					t.Errorf("<%s> has event handler attribute %s=%q", tok.Data, a.Key, a.Val)
				case a.Key == "style":
					t.Errorf("<%s> has inline style %q", tok.Data, a.Val)
				case a.Key == "href" || a.Key == "src" || a.Key == "action":
					v := strings.ToLower(strings.TrimSpace(a.Val))
					if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") {
						t.Errorf("<%s %s=%q> is a script URL", tok.Data, a.Key, a.Val)
					}
					if strings.HasPrefix(v, "data:") && !(tok.Data == "a" && strings.HasPrefix(v, "data:text/plain;") && hasAttr(tok, "download")) &&
						!(tok.Data == "link" && v == "data:,") {
						t.Errorf("<%s %s=%q> unexpected data: URL", tok.Data, a.Key, a.Val)
					}
				case a.Key == "id":
					ids[a.Val]++
				}
			}
			switch tok.Data {
			case "script":
				if src := attrs["src"]; !strings.HasPrefix(src, DefaultAssetsPath+"/") {
					t.Errorf("<script> without our asset src: %v", tok.Attr)
				}
				inScript = tt == html.StartTagToken
			case "style", "iframe", "object", "embed", "img", "svg", "base":
				t.Errorf("unexpected <%s> element: %v", tok.Data, tok.Attr)
			case "html":
				lang = attrs["lang"]
			case "h1":
				h1s++
			case "meta":
				if attrs["name"] == "viewport" {
					viewports++
				}
			case "label":
				labelFor[attrs["for"]] = true
			case "input":
				if attrs["type"] != "hidden" {
					inputs = append(inputs, attrs["id"])
				}
			case "button":
				if attrs["type"] == "" {
					t.Errorf("<button> without type: %v", tok.Attr)
				}
			}
		}
	}
	if lang != "en" {
		t.Errorf(`<html lang> = %q, want "en"`, lang)
	}
	if h1s != 1 {
		t.Errorf("%d <h1> elements, want 1", h1s)
	}
	if viewports != 1 {
		t.Errorf("%d viewport metas, want 1", viewports)
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	for _, id := range inputs {
		if id == "" || !labelFor[id] {
			t.Errorf("input %q has no <label for>", id)
		}
	}
}

func hasAttr(tok html.Token, key string) bool {
	for _, a := range tok.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func TestRenderEscapesHostileValues(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, c := range hostilePages() {
		w := httptest.NewRecorder()
		r.Render(w, c.status, c.page)
		body := w.Body.String()
		for _, bad := range []string{"<script>alert", "onmouseover=\"", "<svg", "<img", `href="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: raw %q in served HTML", c.name, bad)
			}
		}
	}
}

type brokenPage struct{}

func (brokenPage) templateName() string { return "no-such-template" }
func (brokenPage) title() string        { return "broken" }
func (brokenPage) noStore() bool        { return false }

func TestRenderFailureIsPlain500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	r, err := NewRenderer(testBranding, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Page{"unknown template": brokenPage{}, "nil page": nil} {
		logs.Reset()
		w := httptest.NewRecorder()
		r.Render(w, http.StatusOK, p)
		if w.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", name, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if strings.Contains(w.Body.String(), "<") {
			t.Errorf("%s: body has markup: %q", name, w.Body.String())
		}
		if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: headers %v", name, w.Header())
		}
		if !strings.Contains(logs.String(), "render page") {
			t.Errorf("%s: failure not logged: %q", name, logs.String())
		}
	}
}

func TestRenderInvalidStatus(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	w := httptest.NewRecorder()
	r.Render(w, 42, NotFoundPage{})
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "Page not found") {
		t.Errorf("status %d body %q", w.Code, w.Body.String())
	}
}

func TestNewRendererChecksBranding(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]Branding{
		"no service name":    {SupportEmail: "s@example.com"},
		"no support email":   {ServiceName: "X"},
		"bad support email":  {ServiceName: "X", SupportEmail: "not an address"},
		"named email":        {ServiceName: "X", SupportEmail: "Support <s@example.com>"},
		"relative assets":    {ServiceName: "X", SupportEmail: "s@example.com", AssetsPath: "assets"},
		"assets with quotes": {ServiceName: "X", SupportEmail: "s@example.com", AssetsPath: `/a"b`},
	} {
		if _, err := NewRenderer(b); err == nil {
			t.Errorf("%s: NewRenderer accepted %+v", name, b)
		}
	}
	r, err := NewRenderer(Branding{ServiceName: " X ", SupportEmail: "s@example.com", AssetsPath: "/static/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Branding(); got.AssetsPath != "/static" || got.ServiceName != "X" {
		t.Errorf("branding = %+v", got)
	}
	w := httptest.NewRecorder()
	r.Render(w, 200, ConsentGrantedPage{Script: "x"})
	if !strings.Contains(w.Body.String(), `href="/static/app.css?v=`) || !strings.Contains(w.Body.String(), `src="/static/copy.js?v=`) {
		t.Errorf("assets not linked under /static:\n%s", w.Body.String())
	}
}

func TestPageSupportEmailOverridesBranding(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	w := httptest.NewRecorder()
	r.Render(w, 200, ConsentPendingPage{SupportEmail: "tenant-desk@modality.example"})
	if !strings.Contains(w.Body.String(), `href="mailto:tenant-desk@modality.example"`) {
		t.Errorf("page support email not used:\n%s", w.Body.String())
	}
	w = httptest.NewRecorder()
	r.Render(w, 200, ConsentPendingPage{SupportEmail: "not valid"})
	if !strings.Contains(w.Body.String(), `href="mailto:support@modality.example"`) {
		t.Errorf("invalid page email should fall back to branding:\n%s", w.Body.String())
	}
}

func TestAssetHandler(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	mux := http.NewServeMux()
	mux.Handle("GET /api/assets/{name}", r.AssetHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	for name, ct := range map[string]string{"app.css": "text/css; charset=utf-8", "copy.js": "text/javascript; charset=utf-8"} {
		versioned := r.assetURL(name)
		resp := get(versioned, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct || len(body) < 100 {
			t.Errorf("%s: %d %q %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", name)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s versioned: Cache-Control %q", name, cc)
		}
		if cc := get(DefaultAssetsPath+"/"+name, nil).Header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("%s unversioned: Cache-Control %q", name, cc)
		}
		if resp := get(versioned, map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: conditional GET status %d", name, resp.StatusCode)
		}
	}
	for _, p := range []string{"/api/assets/nope.js", "/api/assets/layout.html", "/api/assets/..%2Frender.go", "/api/assets/"} {
		resp := get(p, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" && resp.StatusCode == 404 && p != "/api/assets/" {
			t.Errorf("%s: 404 without nosniff", p)
		}
	}
}

func TestScriptDataURL(t *testing.T) {
	t.Parallel()
	decode := func(u string) string {
		t.Helper()
		const prefix = "data:text/plain;charset=utf-8;base64,"
		if !strings.HasPrefix(u, prefix) {
			t.Fatalf("data URL %q", u)
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(u, prefix))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := decode(string(scriptDataURL(realisticScript))); got != realisticScript {
		t.Errorf("ASCII script changed in the data URL")
	}
	nonASCII := "# Zürich Café AG\nConnect-MicrosoftTeams\n"
	if got := decode(string(scriptDataURL(nonASCII))); got != "\uFEFF"+nonASCII {
		t.Errorf("non-ASCII script should get a UTF-8 BOM for Windows PowerShell 5.1, got %q", got)
	}
}

func TestScriptFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                            DefaultScriptFileName,
		"Enable-CVI-Contoso.ps1":      "Enable-CVI-Contoso.ps1",
		"Enable CVI Contoso":          "Enable-CVI-Contoso.ps1",
		"../../etc/passwd":            "etcpasswd.ps1",
		`"><img src=x onerror=a>.ps1`: "img-srcx-onerrora.ps1",
		".ps1":                        DefaultScriptFileName,
		"Zürich.PS1":                  "Zrich.ps1",
	} {
		if got := scriptFileName(in); got != want {
			t.Errorf("scriptFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeLink(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/api/adminconsent?t=abc":              "/api/adminconsent?t=abc",
		"https://onboard.example.net/api/x?y":  "https://onboard.example.net/api/x?y",
		"javascript:alert(1)":                  "",
		" JavaScript:alert(1)":                 "",
		"data:text/html,<script>x</script>":    "",
		"//evil.example/x":                     "",
		"relative/path":                        "",
		"https:///nohost":                      "",
		"":                                     "",
		"mailto:someone@example.com":           "",
		"http://127.0.0.1:7071/api/adminconse": "http://127.0.0.1:7071/api/adminconse",
	} {
		if got := safeLink(in); got != want {
			t.Errorf("safeLink(%q) = %q, want %q", in, got, want)
		}
	}
}
