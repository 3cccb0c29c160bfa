package consistency

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// handlerRoute is one pattern registered on the handler's ServeMux.
type handlerRoute struct {
	Pattern string // as written, e.g. "GET /api/healthz"
	Method  string // "" = any method
	Path    string
	Where   string // file:line
}

// handlerRoutes finds the literal (or package-constant) patterns passed to
// Handle/HandleFunc calls in the handlers package, without importing it.
func handlerRoutes(sources map[string][]byte) ([]handlerRoute, []string) {
	fset := token.NewFileSet()
	var files []*ast.File
	var problems []string
	for _, name := range sortedKeys(sources) {
		f, err := parser.ParseFile(fset, name, sources[name], parser.SkipObjectResolution)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: does not parse: %v", name, err))
			continue
		}
		files = append(files, f)
	}
	consts := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringValue(vs.Values[i], nil); ok {
							consts[n.Name] = s
						}
					}
				}
			}
		}
	}
	var routes []handlerRoute
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			where := fset.Position(call.Pos()).String()
			pattern, ok := stringValue(call.Args[0], consts)
			switch {
			case ok && patternRE.MatchString(pattern):
				routes = append(routes, parsePattern(pattern, where))
			case isMux(sel.X):
				problems = append(problems, fmt.Sprintf("%s: the route pattern passed to %s is not a string constant; write it as a literal (or a package const) so internal/consistency can match it with functions/*/function.json", where, sel.Sel.Name))
			}
			// Anything else is some other Handle method (e.g. a service's).
			return true
		})
	}
	return routes, problems
}

// patternRE accepts ServeMux patterns: [METHOD ][host]/path.
var patternRE = regexp.MustCompile(`^([A-Z]+\s+)?[^\s/]*/`)

// isMux reports whether a Handle call's receiver looks like a ServeMux
// (s.mux, mux, router.mux, http.Handle).
func isMux(x ast.Expr) bool {
	var name string
	switch v := x.(type) {
	case *ast.Ident:
		name = v.Name
	case *ast.SelectorExpr:
		name = v.Sel.Name
	}
	return name == "http" || strings.Contains(strings.ToLower(name), "mux")
}

// stringValue evaluates string literals, known constants and their concatenation.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(v.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[v.Name]
		return s, ok
	case *ast.ParenExpr:
		return stringValue(v.X, consts)
	case *ast.BinaryExpr:
		if v.Op != token.ADD {
			return "", false
		}
		a, okA := stringValue(v.X, consts)
		b, okB := stringValue(v.Y, consts)
		return a + b, okA && okB
	}
	return "", false
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

// checkRoutes matches function folders with handler routes: an HTTP function's
// route (with the host's routePrefix) with a mux pattern ({*path} with
// {path...}), a non-HTTP function Name with `POST /Name`.
func checkRoutes(r repo) []string {
	routes, problems := handlerRoutes(r.Handlers)
	if len(r.Handlers) == 0 {
		return append(problems, "handlers/*.go not found: the custom handler's routes cannot be checked")
	}
	prefix := routePrefix(r.HostJSON)
	var fnRoutes []fnRoute
	invoked := map[string]bool{}
	for _, f := range r.Functions {
		trig, ok := f.trigger()
		if !ok {
			continue // checkHost reports it
		}
		if !f.isHTTP() {
			invoked[f.Name] = true
			continue
		}
		route := f.Name
		if trig.Route != nil {
			route = strings.Trim(*trig.Route, "/")
		}
		// The host refuses any route text starting with "admin" or
		// "runtime" (its own API), whatever the routePrefix.
		if lower := strings.ToLower(route); strings.HasPrefix(lower, "admin") || strings.HasPrefix(lower, "runtime") {
			problems = append(problems, fmt.Sprintf("%s: route %q starts with a name the Functions host reserves (admin, runtime) and would be refused at start; set routePrefix to \"\" in host.json and write the route as \"api/%s\"", f.Path, route, route))
		}
		path := "/" + strings.Trim(prefix+"/"+route, "/")
		var methods []string
		for _, m := range trig.Methods {
			methods = append(methods, strings.ToUpper(m))
		}
		fnRoutes = append(fnRoutes, fnRoute{Function: f.Path, Path: path, Methods: methods})
	}

	// Every function needs a handler route.
	for _, fr := range fnRoutes {
		sample := fnSample(fr.Path)
		methods := fr.Methods
		if len(methods) == 0 {
			methods = []string{""}
		}
		for _, m := range methods {
			found := false
			for _, h := range routes {
				// The function's own path is served, or (catch-all routes)
				// some handler route lies inside it with that method.
				direct := h.handles(m, sample) || (m == "" && goMatches(h.Path, sample))
				inside := fnMatches(fr.Path, goSample(h.Path)) && (m == "" || h.Method == "" || h.Method == m)
				if direct || inside {
					found = true
					break
				}
			}
			if !found {
				what := "any method"
				if m != "" {
					what = m
				}
				problems = append(problems, fmt.Sprintf("%s: route %s (%s) has no handler; register `s.mux.Handle(\"%s %s\", ...)` in handlers/ (Functions {*rest} is Go {rest...}; {id} is {id}) or remove the function", fr.Function, fr.Path, what, strings.TrimSpace(m+" "), toGoPattern(fr.Path)))
			}
		}
	}
	for name := range invoked {
		found := false
		for _, h := range routes {
			if h.handles("POST", "/"+name) && h.Path == "/"+name {
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("functions/%s/function.json: the host POSTs this trigger to /%s but no handler route serves it; register `s.mux.Handle(\"POST /%s\", ...)` in handlers/ or remove the folder", name, name, name))
		}
	}

	// Every handler route needs a function that can reach it.
	for _, h := range routes {
		if h.Path == "/{$}" || h.Path == "/" {
			continue // the host's readiness probe (GET /)
		}
		segs := strings.Split(strings.Trim(h.Path, "/"), "/")
		// With an empty routePrefix, a one-segment POST route named like a
		// function folder (upper-case first letter) is an invocation route.
		looksInvoked := invoked[segs[0]] || (h.Method == "POST" && segs[0] != "" && unicode.IsUpper(rune(segs[0][0])))
		isInvocation := len(segs) == 1 && !strings.HasPrefix(segs[0], "{") && (prefix == "" && looksInvoked || prefix != "" && !strings.EqualFold(segs[0], prefix))
		if isInvocation {
			switch {
			case !invoked[segs[0]]:
				problems = append(problems, fmt.Sprintf("%s: handler route %q has no function folder: add functions/%s/function.json with its trigger, or remove the route (the host calls POST /<folder name> only for non-HTTP functions)", h.Where, h.Pattern, segs[0]))
			case h.Method != "" && h.Method != "POST":
				problems = append(problems, fmt.Sprintf("%s: handler route %q uses %s, but the host invokes functions with POST; register \"POST /%s\"", h.Where, h.Pattern, h.Method, segs[0]))
			}
			continue
		}
		sample := goSample(h.Path)
		var reached, methodOK bool
		for _, fr := range fnRoutes {
			if !fnMatches(fr.Path, sample) {
				continue
			}
			reached = true
			if methodAllowed(fr.Methods, h.Method) {
				methodOK = true
			}
		}
		switch {
		case !reached:
			problems = append(problems, fmt.Sprintf("%s: handler route %q is reached by no HTTP function: add a functions/<Name>/function.json whose httpTrigger route (under /%s/) covers %s, or remove the route", h.Where, h.Pattern, prefix, h.Path))
		case !methodOK:
			problems = append(problems, fmt.Sprintf("%s: handler route %q uses %s, which the HTTP function covering %s does not list in \"methods\"; add %q there or change the route", h.Where, h.Pattern, h.Method, h.Path, strings.ToLower(h.Method)))
		}
	}
	sort.Strings(problems)
	return problems
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

func TestHandlerRoutesReadsLiteralsAndConstants(t *testing.T) {
	t.Parallel()
	src := []byte(`package handlers

const joinPrefix = "/api/join/"

func (s *Server) routes() {
	s.mux.Handle("GET /api/healthz", nil)
	s.mux.HandleFunc("POST /ProvisionTenant", nil)
	s.mux.Handle("GET "+joinPrefix+"{code}", nil)
	pattern := "GET /dynamic"
	s.mux.Handle(pattern, nil)
	s.Notify.Handle(ctx, body, id)
}
`)
	routes, problems := handlerRoutes(map[string][]byte{"handlers/server.go": src})
	var got []string
	for _, r := range routes {
		got = append(got, r.Method+" "+r.Path)
	}
	want := []string{"GET /api/healthz", "POST /ProvisionTenant", "GET /api/join/{code}"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("routes = %v, want %v", got, want)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "not a string constant") {
		t.Errorf("a non-constant pattern must be reported, got %v", problems)
	}
}
