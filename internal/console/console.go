// Package console serves the operator console, a single-page app built from
// console/ (Vite) into site/ and embedded in the handler binary, under
// /console/. Without a build the package still compiles (site/ then holds
// only its placeholder) and every page says how to build it.
//
// Caching: content-hashed assets (Vite's assets/<name>-<hash>.<ext>) are
// immutable for a year; index.html and config.json are revalidated on every
// load, so a deployment is picked up at once. Paths under /console/ that are
// not files and do not look like files get index.html (client-side routes).
//
// Security headers on every answer: a CSP without inline script or style
// whose connect-src adds only the identity platform (msal-browser talks to
// its token endpoint), frame-ancestors 'none', no referrer, nosniff.
package console

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
)

//go:embed all:site
var embedded embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// placeholder is the committed stand-in for a build.
const placeholder = "README.txt"

// Config is what the SPA needs to sign in and call the admin API.
type Config struct {
	// AuthorityHost is the identity platform (AUTHORITY_HOST), e.g.
	// https://login.microsoftonline.com/.
	AuthorityHost string
	TenantID      string // the operator tenant, which issues admin API tokens
	ClientID      string // the console's SPA app registration; "" = console off
	// APIAudience is the admin API's Application ID URI; the SPA asks for
	// its delegated scope <audience>/access_as_user.
	APIAudience string
	// PublicBaseURL is the function app's public URL; the redirect URI is
	// PublicBaseURL + /console/.
	PublicBaseURL string
}

// Scope is the admin API's delegated permission the console requests.
const Scope = "access_as_user"

// Handler serves /console/.
type Handler struct {
	files     fs.FS
	built     bool
	cfg       Config
	cfgJSON   []byte
	csp       string
	gzipCache map[string][]byte // precompressed text files
}

// New builds the handler over the embedded build.
func New(cfg Config) (*Handler, error) {
	sub, err := fs.Sub(embedded, "site")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return NewFS(cfg, sub)
}

// NewFS builds the handler over files (a built site directory), for tests.
func NewFS(cfg Config, files fs.FS) (*Handler, error) {
	h := &Handler{files: files, cfg: cfg, gzipCache: map[string][]byte{}}
	if _, err := fs.Stat(files, "index.html"); err == nil {
		h.built = true
	}
	connect := "'self'"
	if cfg.AuthorityHost != "" {
		u, err := url.Parse(cfg.AuthorityHost)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("console: authority host %q is not an absolute URL", cfg.AuthorityHost)
		}
		connect += " " + u.Scheme + "://" + u.Host
	}
	h.csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	if cfg.ClientID != "" {
		b, err := json.Marshal(h.spaConfig())
		if err != nil {
			return nil, fmt.Errorf("console: config: %w", err)
		}
		h.cfgJSON = b
	}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !compressible(p) {
			return err
		}
		raw, err := fs.ReadFile(files, p)
		if err != nil || len(raw) < 1024 {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		h.gzipCache[p] = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: reading the build: %w", err)
	}
	return h, nil
}

// Built reports whether a console build is embedded.
func (h *Handler) Built() bool { return h.built }

type spaConfig struct {
	Authority             string   `json:"authority"`
	KnownAuthorities      []string `json:"knownAuthorities"`
	ClientID              string   `json:"clientId"`
	Scopes                []string `json:"scopes"`
	APIBase               string   `json:"apiBase"`
	RedirectURI           string   `json:"redirectUri"`
	PostLogoutRedirectURI string   `json:"postLogoutRedirectUri"`
	Sandbox               bool     `json:"sandbox"`
}

func (h *Handler) spaConfig() spaConfig {
	host := strings.TrimSuffix(h.cfg.AuthorityHost, "/")
	u, _ := url.Parse(host)
	redirect := strings.TrimSuffix(h.cfg.PublicBaseURL, "/") + Prefix
	c := spaConfig{
		Authority: host + "/" + h.cfg.TenantID, ClientID: h.cfg.ClientID,
		Scopes:  []string{strings.TrimSuffix(h.cfg.APIAudience, "/") + "/" + Scope},
		APIBase: "/api/admin", RedirectURI: redirect, PostLogoutRedirectURI: redirect,
	}
	if u != nil {
		// msal-browser trusts an authority outside Microsoft's clouds
		// only when listed in knownAuthorities.
		c.KnownAuthorities = []string{u.Host}
		c.Sandbox = u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1"
	}
	return c
}

// hashedAsset matches Vite's content-hashed names (assets/index-B3x_9aZq.js).
var hashedAsset = regexp.MustCompile(`^assets/.+[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$`)

// ServeHTTP answers GET and HEAD under /console/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		h.page(w, http.StatusMethodNotAllowed, "Method not allowed", "The console only answers GET and HEAD.")
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		h.page(w, http.StatusNotFound, "Not found", "There is nothing here.")
		return
	}
	name, err := cleanPath(rel)
	if err != nil {
		h.page(w, http.StatusBadRequest, "Bad path", err.Error())
		return
	}
	switch {
	case name == "config.json":
		h.serveConfig(w)
		return
	case !h.built:
		h.page(w, http.StatusServiceUnavailable, "The console is not built",
			"This handler was built without the console's assets. Run `make console` (or `make run`, which builds it) and rebuild the handler.")
		return
	case h.cfg.ClientID == "":
		h.page(w, http.StatusServiceUnavailable, "The console is switched off",
			"Set CONSOLE_CLIENT_ID to the client ID of the console's SPA app registration (see docs/operations.md, \"Operator console\").")
		return
	}
	if name == "" || name == placeholder {
		name = "index.html"
	}
	if st, err := fs.Stat(h.files, name); err != nil || st.IsDir() {
		if looksLikeFile(name) {
			h.page(w, http.StatusNotFound, "Not found", "The console has no file "+name+".")
			return
		}
		name = "index.html" // a client-side route
	}
	h.serveFile(w, r, name)
}

// cleanPath refuses anything that could leave site/: "..", backslashes,
// NUL, absolute or unclean paths. "" is the index.
func cleanPath(rel string) (string, error) {
	if rel == "" {
		return "", nil
	}
	if strings.ContainsAny(rel, "\\\x00") {
		return "", errors.New("the path holds a backslash or NUL")
	}
	trimmed := strings.TrimSuffix(rel, "/")
	for _, seg := range strings.Split(trimmed, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", errors.New("the path holds an empty, . or .. segment")
		}
	}
	if path.Clean(trimmed) != trimmed || !fs.ValidPath(trimmed) {
		return "", errors.New("the path is not clean")
	}
	return trimmed, nil
}

func looksLikeFile(name string) bool {
	return strings.HasPrefix(name, "assets/") || path.Ext(name) != ""
}

func compressible(name string) bool {
	switch path.Ext(name) {
	case ".js", ".mjs", ".css", ".html", ".json", ".svg", ".map", ".txt":
		return true
	}
	return false
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	body, err := fs.ReadFile(h.files, name)
	if err != nil {
		h.page(w, http.StatusInternalServerError, "Internal error", "The console's file "+name+" cannot be read.")
		return
	}
	hd := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	if hashedAsset.MatchString(name) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Add("Vary", "Accept-Encoding")
	if gz, ok := h.gzipCache[name]; ok && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func (h *Handler) serveConfig(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache")
	if h.cfgJSON == nil {
		hd.Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "urn:onemeeting-cvi:problem:unavailable", "title": "The console is switched off", "status": 503,
			"detail": "CONSOLE_CLIENT_ID is not set: register the console's SPA app (docs/operations.md) and set it.",
		})
		return
	}
	hd.Set("Content-Type", "application/json")
	_, _ = w.Write(h.cfgJSON)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · OneMeeting CVI console</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Detail}}</p></main></body></html>
`))

// page answers a small HTML page (no script, no style: the CSP holds).
func (h *Handler) page(w http.ResponseWriter, status int, title, detail string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Detail string }{title, detail})
}
