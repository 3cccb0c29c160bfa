// Package web renders the customer-facing HTML pages: the admin-consent
// outcome pages and the join-instructions page that Teams links from meeting
// invites. Pages are html/template documents in one small layout, served with
// a strict Content-Security-Policy (no inline script or style), so every
// customer-supplied value reaches the browser as escaped text.
package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/app.css assets/copy.js
var assetFS embed.FS

// DefaultAssetsPath is where AssetHandler is mounted unless Branding says otherwise.
const DefaultAssetsPath = "/api/assets"

// ContentSecurityPolicy is sent with every page: nothing inline, scripts and
// styles from our own origin only, no framing.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Branding is what the layout shows around every page.
type Branding struct {
	ServiceName  string // "OneMeeting CVI"
	ProviderName string // e.g. "Modality Systems"; optional
	SupportEmail string // shown in the footer of every page
	AssetsPath   string // URL path prefix of AssetHandler; default DefaultAssetsPath
}

// Option changes a Renderer at construction.
type Option func(*Renderer)

// WithLogger makes the renderer log template failures to logger.
func WithLogger(logger *slog.Logger) Option {
	return func(r *Renderer) {
		if logger != nil {
			r.log = logger
		}
	}
}

// Renderer holds the parsed templates and assets; safe for concurrent use.
type Renderer struct {
	brand  Branding
	log    *slog.Logger
	pages  map[string]*template.Template
	assets map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	version     string // short content hash, used as ?v= in page links
	etag        string
}

// view is what the layout template executes with.
type view struct {
	Brand      Branding
	Title      string
	StyleURL   string
	ScriptURL  string // empty when the page has nothing for copy.js to do
	Page       Page
	HelpEmail  string // page-specific support address, else the branding one
	PageLayout string // CSS hook: the template name
}

// NewRenderer parses the embedded templates once and checks the branding.
func NewRenderer(b Branding, opts ...Option) (*Renderer, error) {
	b.ServiceName = strings.TrimSpace(b.ServiceName)
	b.ProviderName = strings.TrimSpace(b.ProviderName)
	b.SupportEmail = strings.TrimSpace(b.SupportEmail)
	if b.ServiceName == "" {
		return nil, errors.New("web: Branding.ServiceName is required")
	}
	if err := checkEmail(b.SupportEmail); err != nil {
		return nil, fmt.Errorf("web: Branding.SupportEmail: %w", err)
	}
	if b.AssetsPath == "" {
		b.AssetsPath = DefaultAssetsPath
	}
	b.AssetsPath = strings.TrimRight(b.AssetsPath, "/")
	if !strings.HasPrefix(b.AssetsPath, "/") || strings.ContainsAny(b.AssetsPath, "?#\"'<> ") {
		return nil, fmt.Errorf("web: Branding.AssetsPath %q must be an absolute URL path", b.AssetsPath)
	}
	r := &Renderer{
		brand: b,
		log:   slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(r)
	}
	var err error
	if r.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if r.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	return r, nil
}

func checkEmail(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q is not an email address: %w", s, err)
	}
	if a.Address != s {
		return fmt.Errorf("%q must be a bare address like support@example.com", s)
	}
	return nil
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"scriptDataURL":  scriptDataURL,
		"scriptFileName": scriptFileName,
		"directDial":     DirectDialAddress,
		"consentHelp":    ExplainConsentError,
		// Bytes on a character boundary, the cut marked: a bound on the page's
		// size (consent already keeps at most 1000 bytes of a description).
		"truncate": domain.TruncateMarked,
		"safeLink": safeLink,
		// Shown on pages next to the script, which runs it too.
		"executionPolicy": func() string { return powershell.ExecutionPolicyLine },
	}
}

// parseTemplates builds one template set per page: the layout plus the
// page's own file, which defines "content".
func parseTemplates() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	pages := make(map[string]*template.Template, len(files))
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: %s does not define \"content\"", f)
		}
		pages[name] = t
	}
	return pages, nil
}

func loadAssets() (map[string]asset, error) {
	types := map[string]string{
		".css": "text/css; charset=utf-8",
		".js":  "text/javascript; charset=utf-8",
	}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: list assets: %w", err)
	}
	out := make(map[string]asset, len(entries))
	for _, e := range entries {
		body, err := fs.ReadFile(assetFS, "assets/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: read asset %s: %w", e.Name(), err)
		}
		version := domain.Digest(string(body), 6)
		out[e.Name()] = asset{
			body:        body,
			contentType: types[path.Ext(e.Name())],
			version:     version,
			etag:        `"` + version + `"`,
		}
	}
	return out, nil
}

// Branding returns the branding the renderer was built with (defaults filled in).
func (r *Renderer) Branding() Branding { return r.brand }

// assetURL is the cache-busting URL of an embedded asset.
func (r *Renderer) assetURL(name string) string {
	return r.brand.AssetsPath + "/" + name + "?v=" + r.assets[name].version
}

// Render writes page p with status. The page is executed into a buffer first,
// so a template failure becomes a plain 500 rather than half a page.
func (r *Renderer) Render(w http.ResponseWriter, status int, p Page) {
	h := w.Header()
	noStore := p == nil || p.noStore()
	SetSecurityHeaders(h, noStore)
	if status < 100 || status > 999 {
		r.log.Error("render page: invalid HTTP status", "status", status)
		status = http.StatusInternalServerError
	}
	body, err := r.execute(p)
	if err != nil {
		r.log.Error("render page", "err", err)
		writePlain500(w)
		return
	}
	if !noStore {
		if c, ok := p.(interface{ cacheControl() string }); ok {
			h.Set("Cache-Control", c.cacheControl())
		}
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writePlain500(w http.ResponseWriter) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal Server Error: the page could not be shown. Please try again later.\n"))
}

func (r *Renderer) execute(p Page) ([]byte, error) {
	if p == nil {
		return nil, errors.New("nil page")
	}
	p = cleanDisplay(p)
	name := p.templateName()
	t, ok := r.pages[name]
	if !ok {
		return nil, fmt.Errorf("no template %q for %T", name, p)
	}
	v := view{
		Brand:      r.brand,
		Title:      p.title(),
		StyleURL:   r.assetURL("app.css"),
		Page:       p,
		HelpEmail:  r.brand.SupportEmail,
		PageLayout: name,
	}
	if s, ok := p.(interface{ usesCopyScript() bool }); ok && s.usesCopyScript() {
		v.ScriptURL = r.assetURL("copy.js")
	}
	if s, ok := p.(interface{ supportEmail() string }); ok {
		if e := strings.TrimSpace(s.supportEmail()); e != "" && checkEmail(e) == nil {
			v.HelpEmail = e
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, fmt.Errorf("execute %s for %T: %w", name, p, err)
	}
	return buf.Bytes(), nil
}

// SetSecurityHeaders sets the headers every page carries; noStore adds
// Cache-Control: no-store (consent pages hold one-time outcomes).
func SetSecurityHeaders(h http.Header, noStore bool) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if noStore {
		h.Set("Cache-Control", "no-store")
	}
}

// AssetHandler serves the embedded app.css and copy.js for the route
// "GET {AssetsPath}/{name}". Pages link them with ?v=<content hash>; such
// requests are cached for a year, any other request only briefly, so a
// deploy never leaves browsers with stale styles or script.
func (r *Renderer) AssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		a, ok := r.assets[req.PathValue("name")]
		if !ok {
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			http.NotFound(w, req)
			return
		}
		SetSecurityHeaders(h, false)
		if req.URL.Query().Get("v") == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// scriptDataURL makes the Download .ps1 link. The URL is built only from a
// fixed prefix and base64 text, so marking it safe for html/template (which
// rejects data: URLs by default) cannot let markup through. Windows
// PowerShell 5.1 reads a script file without a byte-order mark as ANSI, so a
// script with non-ASCII text (customer names) gets a UTF-8 BOM.
func scriptDataURL(script string) template.URL {
	data := []byte(script)
	if !isASCII(script) {
		data = append([]byte("\uFEFF"), data...)
	}
	return template.URL("data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(data))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// DefaultScriptFileName is offered when the page does not name the file.
const DefaultScriptFileName = "Enable-OneMeetingCVI.ps1"

// scriptFileName keeps a suggested download name to letters, digits, dot,
// dash and underscore, ending in .ps1.
func scriptFileName(name string) string {
	var b strings.Builder
	for _, c := range strings.TrimSpace(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		case c == ' ':
			b.WriteRune('-')
		}
	}
	out := b.String()
	if strings.HasSuffix(strings.ToLower(out), ".ps1") {
		out = out[:len(out)-len(".ps1")]
	}
	out = strings.Trim(out, ".-_")
	if out == "" {
		return DefaultScriptFileName
	}
	if len(out) > 80 {
		out = out[:80]
	}
	return out + ".ps1"
}

// safeLink returns link if it is an http(s) URL or a root-relative path, else
// "": the page then leaves the link out instead of showing a dead one.
func safeLink(link string) string {
	link = strings.TrimSpace(link)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		return ""
	}
	switch {
	case u.Scheme == "https" || u.Scheme == "http":
		if u.Host == "" {
			return ""
		}
		return link
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(link, "//"):
		return link
	}
	return ""
}
