package funchost

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func httpFn(methods, route string) string {
	r := ""
	if route != "" {
		r = `,"route":"` + route + `"`
	}
	return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":` + methods + r +
		`},{"type":"http","direction":"out","name":"res"}]}`
}

func TestHTTPForwarding(t *testing.T) {
	t.Parallel()
	fns := map[string]string{
		"GetTenant":   httpFn(`["get"]`, "tenants/{id:guid}"),
		"Special":     httpFn(`["get"]`, "tenants/special"),
		"Files":       httpFn(`[]`, "files/{*rest}"),
		"Echo":        httpFn(`["post","put"]`, "echo/{name?}"),
		"Redirect":    httpFn(`["get"]`, "go"),
		"healthz":     httpFn(`["get"]`, ""),
		"NotMatching": httpFn(`["get"]`, "x/{a}/y"),
	}
	f := startHost(t, fns, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == "/api/go":
			w.Header().Set("Location", "/elsewhere?x=1")
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			w.WriteHeader(http.StatusFound)
			_, _ = io.WriteString(w, "moved")
		case strings.HasPrefix(r.URL.Path, "/api/echo"):
			w.Header().Set("X-Handler", "yes")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
		default:
			_, _ = io.WriteString(w, "ok "+r.URL.Path)
		}
	}, nil)
	base := f.h.URL()

	// Route parameter with a constraint; repeated query keys arrive joined like the host's dictionary.
	resp := do(t, http.MethodGet, base+"/api/tenants/0f8fad5b-d9cb-469f-a165-70867728950e?x=1&X=2&y=a+b&code=secret", "", nil)
	if resp.Status != 200 || resp.Body != "ok /api/tenants/0f8fad5b-d9cb-469f-a165-70867728950e" {
		t.Errorf("GET tenant = %d %q", resp.Status, resp.Body)
	}
	last := lastRequest(t, f)
	if last.RawQuery != "x=1%2C2&y=a%20b&code=secret" {
		t.Errorf("forwarded query = %q", last.RawQuery)
	}
	if !uuidPattern.MatchString(last.Header.Get("X-Azure-Functions-InvocationId")) {
		t.Errorf("invocation id header = %q", last.Header.Get("X-Azure-Functions-InvocationId"))
	}
	if strings.Contains(f.logs.String(), "secret") {
		t.Error("the query (which may hold ?code=) was logged")
	}

	// Catch-all.
	if resp := do(t, http.MethodDelete, base+"/api/files/a/b%20c/d.txt", "", nil); resp.Status != 200 {
		t.Errorf("DELETE files = %d", resp.Status)
	}
	if p := lastRequest(t, f).Path; p != "/api/files/a/b%20c/d.txt" {
		t.Errorf("catch-all forwarded path = %q", p)
	}

	// Body, method, headers, XFF appended to the client's value.
	resp = do(t, http.MethodPost, base+"/api/echo/bob", `{"hello":"world"}`, map[string]string{
		"Content-Type":    "application/json",
		"X-Forwarded-For": "203.0.113.9:1234",
		"X-Client-Ip":     "6.6.6.6",
		"Client-Ip":       "6.6.6.6:1",
		"User-Agent":      "ua-test/1.0",
		"X-Custom":        "kept",
	})
	if resp.Status != http.StatusCreated || resp.Body != `{"hello":"world"}` || resp.Header.Get("X-Handler") != "yes" {
		t.Errorf("POST echo = %d %q %v", resp.Status, resp.Body, resp.Header)
	}
	last = lastRequest(t, f)
	if last.Method != http.MethodPost || string(last.Body) != `{"hello":"world"}` || last.Header.Get("Content-Type") != "application/json" {
		t.Errorf("forwarded request = %s %q %v", last.Method, last.Body, last.Header)
	}
	xff := regexp.MustCompile(`^203\.0\.113\.9:1234, 127\.0\.0\.1:(\d+)$`).FindStringSubmatch(last.Header.Get("X-Forwarded-For"))
	if xff == nil {
		t.Fatalf("X-Forwarded-For = %q, want the client's value then 127.0.0.1:port", last.Header.Get("X-Forwarded-For"))
	}
	if last.Header.Get("X-Client-Ip") != "127.0.0.1" || last.Header.Get("X-Client-Port") != xff[1] ||
		last.Header.Get("Client-Ip") != "127.0.0.1:"+xff[1] {
		t.Errorf("client address headers = %q %q %q", last.Header.Get("X-Client-Ip"), last.Header.Get("X-Client-Port"), last.Header.Get("Client-Ip"))
	}
	// The host appends its product token to the caller's User-Agent.
	if last.Header.Get("User-Agent") != "ua-test/1.0 Azure-Functions-Host/4.0.0-devhost" || last.Header.Get("X-Custom") != "kept" {
		t.Errorf("headers not kept: %v", last.Header)
	}

	// Optional parameter omitted; PUT allowed; GET filtered out by methods.
	if resp := do(t, http.MethodPut, base+"/api/echo", "x", nil); resp.Status != http.StatusCreated {
		t.Errorf("PUT /api/echo = %d", resp.Status)
	}
	n := len(f.fake.requests(""))
	if resp := do(t, http.MethodGet, base+"/api/echo/bob", "", nil); resp.Status != http.StatusNotFound {
		t.Errorf("GET on a POST/PUT function = %d, want 404", resp.Status)
	}
	if len(f.fake.requests("")) != n {
		t.Error("a request with a filtered method reached the handler")
	}

	// Redirects are passed through, not followed.
	resp = do(t, http.MethodGet, base+"/api/go", "", nil)
	if resp.Status != http.StatusFound || resp.Header.Get("Location") != "/elsewhere?x=1" || resp.Body != "moved" ||
		len(resp.Header.Values("Set-Cookie")) != 2 {
		t.Errorf("redirect = %d %v %q", resp.Status, resp.Header, resp.Body)
	}

	// Default route = function name, matched case-insensitively with the prefix.
	if resp := do(t, http.MethodGet, base+"/API/HealthZ", "", nil); resp.Status != 200 {
		t.Errorf("default route = %d", resp.Status)
	}
	for _, p := range []string{"/api/nothing", "/api/x/1", "/other/go", "/api/tenants/a/b"} {
		if resp := do(t, http.MethodGet, base+p, "", nil); resp.Status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.Status)
		}
	}

	// Invocations are logged with function, invocation id, trigger, status and
	// duration in ms, at debug level: the handler logs each request itself.
	logged := false
	for _, rec := range f.logs.Records(t) {
		if rec["function"] == "Echo" && rec["trigger"] == "httpTrigger" && rec["status"] == float64(201) &&
			rec["invocationId"] != nil && rec["durationMs"] != nil && rec["level"] == "DEBUG" {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no structured invocation log for Echo:\n%s", f.logs.String())
	}
}

func TestHTTPHandlerUnreachable(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"healthz": httpFn(`["get"]`, "")}, nil, nil)
	f.fake.srv.Close()
	resp := do(t, http.MethodGet, f.h.URL()+"/api/healthz", "", nil)
	if resp.Status != http.StatusBadGateway || !strings.Contains(resp.Body, "unreachable") {
		t.Errorf("unreachable handler = %d %q, want 502", resp.Status, resp.Body)
	}
}

func TestRoutePrecedence(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{
		"ByID":    httpFn(`["get"]`, "tenants/{id}"),
		"Special": httpFn(`["get"]`, "tenants/special"),
		"Rest":    httpFn(`[]`, "{*all}"),
	}, nil, func(c *Config) {
		c.HostJSONPath = t.TempDir() + "/host.json"
		writeFile(t, c.HostJSONPath, `{"version":"2.0","extensions":{"http":{"routePrefix":""}}}`)
	})
	for path, want := range map[string]string{
		"/tenants/special": "Special",
		"/tenants/42":      "ByID",
		"/anything/else":   "Rest",
		"/":                "Rest",
	} {
		fn, _ := f.h.matchFunction(path, http.MethodGet)
		if fn == nil || fn.Name != want {
			t.Errorf("match(%s) = %v, want %s", path, fn, want)
		}
	}
	if resp := do(t, http.MethodGet, f.h.URL()+"/tenants/special", "", nil); resp.Status != 200 || lastRequest(t, f).Path != "/tenants/special" {
		t.Errorf("empty routePrefix: %d", resp.Status)
	}
}

func TestRouteTemplates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		template, path string
		want           map[string]string // nil = no match
	}{
		{"tenants/{id}", "/tenants/42", map[string]string{"id": "42"}},
		{"tenants/{id}", "/tenants/42/", map[string]string{"id": "42"}},
		{"tenants/{id}", "/tenants", nil},
		{"tenants/{id}", "/tenants/42/x", nil},
		{"tenants/{id:int}", "/Tenants/7", map[string]string{"id": "7"}},
		{"tenants/{id:int?}", "/tenants", map[string]string{}},
		{"join/{token=abc}", "/join", map[string]string{}},
		{"files/{*rest}", "/files", map[string]string{"rest": ""}},
		{"files/{*rest}", "/files/a/b%2Fc", map[string]string{"rest": "a/b/c"}},
		{"a/{b}/c", "/a/x%20y/c", map[string]string{"b": "x y"}},
		{"", "/", map[string]string{}},
		{"", "/x", nil},
	}
	for _, c := range cases {
		tmpl, err := parseRouteTemplate(c.template)
		if err != nil {
			t.Fatalf("parse %q: %v", c.template, err)
		}
		got, ok := tmpl.match(c.path)
		if ok != (c.want != nil) || (ok && testkit.JSON(t, got) != testkit.JSON(t, c.want)) {
			t.Errorf("%q.match(%q) = %v, %v; want %v", c.template, c.path, got, ok, c.want)
		}
	}
	for _, bad := range []string{"a/{*rest}/b", "a/{x}{y}", "a/{b?}/c", "a/pre{x}", "a//b", "{}"} {
		if _, err := parseRouteTemplate(bad); err == nil {
			t.Errorf("parseRouteTemplate(%q) accepted", bad)
		}
	}
}

func TestRebuildQuery(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"":                       "",
		"a=1":                    "a=1",
		"a=1&b=2&a=3":            "a=1%2C3&b=2",
		"flag&x=%C3%A9":          "flag=&x=%C3%A9",
		"q=hello+world&e=a%2Bb":  "q=hello%20world&e=a%2Bb",
		"redirect=https://x/y?z": "redirect=https%3A%2F%2Fx%2Fy%3Fz",
	} {
		if got := rebuildQuery(raw); got != want {
			t.Errorf("rebuildQuery(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestClientAddressHeadersIPv6(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("X-Forwarded-For", "198.51.100.1")
	h.Add("X-Forwarded-For", "198.51.100.2:80")
	setClientAddressHeaders(h, net.JoinHostPort("2001:db8::1", "4598"))
	if got := h.Get("X-Forwarded-For"); got != "198.51.100.1, 198.51.100.2:80, [2001:db8::1]:4598" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if h.Get("X-Client-Ip") != "2001:db8::1" || h.Get("X-Client-Port") != "4598" || h.Get("Client-Ip") != "[2001:db8::1]:4598" {
		t.Errorf("headers = %v", h)
	}
}

func lastRequest(t *testing.T, f *fixture) recorded {
	t.Helper()
	reqs := f.fake.requests("")
	if len(reqs) == 0 {
		t.Fatal("handler saw no request")
	}
	return reqs[len(reqs)-1]
}
