package consistency

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// handlerRoute is one pattern registered on the handler's ServeMux.
type handlerRoute struct {
	Pattern string // as registered, e.g. "GET /api/healthz"
	Method  string // "" = any method
	Path    string
	Where   string // what registered it
}

var methodRE = regexp.MustCompile(`^([A-Z]+)\s+`)

func parsePattern(pattern, where string) handlerRoute {
	r := handlerRoute{Pattern: pattern, Where: where}
	rest := pattern
	if m := methodRE.FindStringSubmatch(rest); m != nil {
		r.Method = m[1]
		rest = rest[len(m[0]):]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[i:] // drop a host part
	}
	r.Path = rest
	return r
}

// goMatches reports whether a ServeMux path pattern matches a concrete path.
func goMatches(pattern, path string) bool {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	xs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range ps {
		last := i == len(ps)-1
		switch {
		case p == "{$}" && last:
			return len(xs) == i+1 && xs[i] == ""
		case p == "" && last:
			return len(xs) >= i+1 // trailing slash: the whole subtree
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "...}") && last:
			return len(xs) >= i+1
		case i >= len(xs):
			return false
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			if xs[i] == "" {
				return false
			}
		case !strings.EqualFold(p, xs[i]):
			return false
		}
	}
	return len(xs) == len(ps)
}

// goSample is a concrete path a ServeMux pattern matches.
func goSample(pattern string) string {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	for i, p := range ps {
		last := i == len(ps)-1
		switch {
		case p == "{$}" && last:
			ps[i] = ""
		case p == "" && last:
			ps[i] = "x"
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			ps[i] = "x"
		}
	}
	return "/" + strings.Join(ps, "/")
}

// fnRoute is an HTTP function's full path template and methods.
type fnRoute struct {
	Function string
	Path     string   // "/api/" + route, Functions template syntax
	Methods  []string // upper case; empty = every method
	Reported bool     // already reported as having no table entry
}

// fnMatches reports whether a Functions route template matches a concrete path:
// {x} and {x:constraint} one segment, {x?} optional, {*x} the rest.
func fnMatches(template, path string) bool {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	if len(xs) == 1 && xs[0] == "" {
		xs = nil
	}
	var match func(ti, xi int) bool
	match = func(ti, xi int) bool {
		if ti == len(ts) {
			return xi == len(xs)
		}
		t := ts[ti]
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			inner := t[1 : len(t)-1]
			switch {
			case strings.HasPrefix(inner, "*"):
				return true
			case strings.HasSuffix(inner, "?"):
				return match(ti+1, xi) || (xi < len(xs) && match(ti+1, xi+1))
			default:
				return xi < len(xs) && xs[xi] != "" && match(ti+1, xi+1)
			}
		}
		return xi < len(xs) && strings.EqualFold(t, xs[xi]) && match(ti+1, xi+1)
	}
	return match(0, 0)
}

// fnSample is a concrete path a Functions route template matches.
func fnSample(template string) string {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	var out []string
	for _, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			inner := t[1 : len(t)-1]
			if strings.HasSuffix(inner, "?") {
				continue
			}
			out = append(out, "x")
			continue
		}
		out = append(out, t)
	}
	return "/" + strings.Join(out, "/")
}

func methodAllowed(methods []string, m string) bool {
	if len(methods) == 0 || m == "" {
		return true
	}
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

// handles reports whether a handler route serves method m on path.
func (h handlerRoute) handles(m, path string) bool {
	if !goMatches(h.Path, path) {
		return false
	}
	return h.Method == "" || h.Method == m || (m == "HEAD" && h.Method == "GET")
}

// routePrefix reads extensions.http.routePrefix (default "api").
func routePrefix(hostJSON []byte) string {
	var host struct {
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	if json.Unmarshal(hostJSON, &host) != nil || host.Extensions.HTTP.RoutePrefix == nil {
		return "api"
	}
	return strings.Trim(*host.Extensions.HTTP.RoutePrefix, "/")
}

// toGoPattern turns a Functions route template into a ServeMux pattern.
func toGoPattern(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			inner := strings.TrimSuffix(strings.TrimPrefix(s[1:len(s)-1], "*"), "?")
			if j := strings.IndexAny(inner, ":="); j >= 0 {
				inner = inner[:j]
			}
			if strings.HasPrefix(s, "{*") {
				segs[i] = "{" + inner + "...}"
			} else {
				segs[i] = "{" + inner + "}"
			}
		}
	}
	return strings.Join(segs, "/")
}

func TestRouteMatching(t *testing.T) {
	t.Parallel()
	goCases := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/healthz", "/api/healthz", true},
		{"/api/healthz", "/api/healthz/x", false},
		{"/api/join/{code}", "/api/join/123", true},
		{"/api/join/{code}", "/api/join/", false},
		{"/api/admin/{rest...}", "/api/admin/tenants/1", true},
		{"/api/admin/", "/api/admin/tenants", true},
		{"/{$}", "/", true},
		{"/{$}", "/x", false},
	}
	for _, c := range goCases {
		if got := goMatches(c.pattern, c.path); got != c.want {
			t.Errorf("goMatches(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
	fnCases := []struct {
		template, path string
		want           bool
	}{
		{"/api/adminconsent/callback", "/api/AdminConsent/callback", true},
		{"/api/admin/{*path}", "/api/admin/tenants/1/resend", true},
		{"/api/join/{code:int}", "/api/join/42", true},
		{"/api/join/{code?}", "/api/join", true},
		{"/api/join/{code}", "/api/join", false},
		{"/api/healthz", "/api/health", false},
	}
	for _, c := range fnCases {
		if got := fnMatches(c.template, c.path); got != c.want {
			t.Errorf("fnMatches(%q, %q) = %v, want %v", c.template, c.path, got, c.want)
		}
	}
	if got := toGoPattern("/api/admin/{*path}"); got != "/api/admin/{path...}" {
		t.Errorf("toGoPattern = %q", got)
	}
	if got := toGoPattern("/api/join/{code:int}"); got != "/api/join/{code}" {
		t.Errorf("toGoPattern = %q", got)
	}
}
