package entrasim_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
)

const (
	consoleRedirect = "http://127.0.0.1:7071/console/"
	consoleOrigin   = "http://127.0.0.1:7071"
	verifier        = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra-entropy"
)

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// noRedirect is the sandbox's TLS client, stopping at redirects.
func noRedirect(s *entrasim.Sandbox) *http.Client {
	c := *s.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func authorizeURL(s *entrasim.Sandbox, extra ...string) string {
	q := url.Values{
		"client_id": {entrasim.ConsoleClientID}, "response_type": {"code"}, "redirect_uri": {consoleRedirect},
		"scope": {"api://onemeeting-cvi-admin/access_as_user openid profile offline_access"}, "response_mode": {"fragment"},
		"state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return s.AuthorityHost() + s.OperatorTenantID() + "/oauth2/v2.0/authorize?" + q.Encode()
}

// signIn submits the persona page's form as the browser does and returns
// the redirect's parameters.
func signIn(t *testing.T, s *entrasim.Sandbox, persona string, extra ...string) url.Values {
	t.Helper()
	c := noRedirect(s)
	page, err := c.Get(authorizeURL(s, extra...))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(body), "SANDBOX operator (reader)") || !strings.Contains(string(body), "SANDBOX operator (writer)") {
		t.Fatalf("persona page: %d %s", page.StatusCode, body)
	}
	res, err := c.PostForm(authorizeURL(s, extra...), url.Values{"persona": {persona}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return redirectParams(t, res)
}

func redirectParams(t *testing.T, res *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), consoleRedirect) {
		t.Fatalf("authorize answer: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	raw := loc.Fragment
	if raw == "" {
		raw = loc.RawQuery
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func redeem(t *testing.T, s *entrasim.Sandbox, form url.Values, origin string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.AuthorityHost()+s.OperatorTenantID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body, res.Header
}

func codeForm(code string) url.Values {
	return url.Values{"client_id": {entrasim.ConsoleClientID}, "grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {consoleRedirect}, "code_verifier": {verifier},
		"scope": {"api://onemeeting-cvi-admin/access_as_user openid profile offline_access"}}
}

func TestConsoleSignInBothPersonas(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	for persona, role := range map[string]string{"reader": "Tenants.Read", "writer": "Tenants.ReadWrite"} {
		v := signIn(t, s, persona)
		if v.Get("state") != "st-1" || v.Get("code") == "" {
			t.Fatalf("%s: redirect params %v", persona, v)
		}
		status, body, hdr := redeem(t, s, codeForm(v.Get("code")), consoleOrigin)
		if status != 200 {
			t.Fatalf("%s: redeem %d %v", persona, status, body)
		}
		if hdr.Get("Access-Control-Allow-Origin") != consoleOrigin {
			t.Errorf("%s: ACAO %q", persona, hdr.Get("Access-Control-Allow-Origin"))
		}
		at := body["access_token"].(string)
		verifyWithJWKS(t, s, s.OperatorTenantID(), at)
		c := claimsOf(t, at)
		roles, _ := c["roles"].([]any)
		if c["aud"] != s.AdminAPIClientID() || c["ver"] != "2.0" || c["azp"] != entrasim.ConsoleClientID || c["scp"] != "access_as_user" ||
			len(roles) != 1 || roles[0] != role || c["iss"] != s.Issuer(s.OperatorTenantID()) {
			t.Errorf("%s: access token claims %v", persona, c)
		}
		id := claimsOf(t, body["id_token"].(string))
		if id["nonce"] != "n-1" || id["aud"] != entrasim.ConsoleClientID || !strings.HasPrefix(id["name"].(string), "SANDBOX operator") {
			t.Errorf("%s: id token claims %v", persona, id)
		}
		// Silent renewal with the refresh token; the old one is spent.
		rt := body["refresh_token"].(string)
		refresh := url.Values{"client_id": {entrasim.ConsoleClientID}, "grant_type": {"refresh_token"}, "refresh_token": {rt},
			"scope": {"api://onemeeting-cvi-admin/access_as_user openid profile offline_access"}}
		status, body2, _ := redeem(t, s, refresh, consoleOrigin)
		if status != 200 || claimsOf(t, body2["access_token"].(string))["oid"] != c["oid"] {
			t.Errorf("%s: refresh %d %v", persona, status, body2)
		}
		if status, _, _ := redeem(t, s, refresh, consoleOrigin); status != 400 {
			t.Errorf("%s: reused refresh token: %d, want 400", persona, status)
		}
	}
}

func TestConsoleCodeSingleUseAndPKCE(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	code := signIn(t, s, "writer").Get("code")
	if status, body, _ := redeem(t, s, codeForm(code), consoleOrigin); status != 200 {
		t.Fatalf("first redemption: %d %v", status, body)
	}
	status, body, _ := redeem(t, s, codeForm(code), consoleOrigin)
	if status != 400 || !strings.Contains(body["error_description"].(string), "AADSTS54005") {
		t.Errorf("second redemption: %d %v", status, body)
	}

	code = signIn(t, s, "writer").Get("code")
	bad := codeForm(code)
	bad.Set("code_verifier", verifier+"x")
	status, body, _ = redeem(t, s, bad, consoleOrigin)
	if status != 400 || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "code_challenge") {
		t.Errorf("PKCE mismatch: %d %v", status, body)
	}

	code = signIn(t, s, "writer").Get("code")
	bad = codeForm(code)
	bad.Set("redirect_uri", "http://127.0.0.1:9999/console/")
	if status, body, _ = redeem(t, s, bad, consoleOrigin); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("redirect_uri differing from the authorize request: %d %v", status, body)
	}

	// SPA codes are redeemed cross-origin only.
	code = signIn(t, s, "reader").Get("code")
	if status, body, _ = redeem(t, s, codeForm(code), ""); status != 400 || !strings.Contains(body["error_description"].(string), "AADSTS9002327") {
		t.Errorf("redemption without Origin: %d %v", status, body)
	}
}

func TestConsoleAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) { o.ConsoleRedirectURIs = []string{consoleRedirect} })
	c := noRedirect(s)
	// Unregistered redirect URI or client: an error page, never a redirect.
	for name, extra := range map[string][]string{
		"wrong redirect_uri": {"redirect_uri", "http://127.0.0.1:7072/console/"},
		"evil redirect_uri":  {"redirect_uri", "https://evil.example/console/"},
		"wrong client":       {"client_id", "00000000-0000-4000-8000-000000000000"},
	} {
		res, err := c.Get(authorizeURL(s, extra...))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q", name, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// PKCE is required: the error goes back to the app with the state.
	for name, extra := range map[string][]string{
		"no challenge": {"code_challenge", ""},
		"plain method": {"code_challenge_method", "plain"},
	} {
		res, err := c.Get(authorizeURL(s, extra...))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if v := redirectParams(t, res); v.Get("error") != "invalid_request" || v.Get("state") != "st-1" || v.Get("code") != "" {
			t.Errorf("%s: %v", name, v)
		}
	}
	// prompt=none without a session: login_required.
	res, err := c.Get(authorizeURL(s, "prompt", "none"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v := redirectParams(t, res); v.Get("error") != "login_required" {
		t.Errorf("prompt=none: %v", v)
	}
}

// sandbox_persona skips the page; sandbox_token_lifetime shortens tokens
// (the console's expired-token tests); query response mode is honoured.
func TestConsoleTestParameters(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	res, err := noRedirect(s).Get(authorizeURL(s, "sandbox_persona", "reader", "sandbox_token_lifetime", "5", "response_mode", "query"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Location"), "?code=") && !strings.Contains(res.Header.Get("Location"), "&code=") {
		t.Errorf("query response mode: Location %q", res.Header.Get("Location"))
	}
	v := redirectParams(t, res)
	status, body, _ := redeem(t, s, codeForm(v.Get("code")), consoleOrigin)
	if status != 200 {
		t.Fatalf("redeem: %d %v", status, body)
	}
	c := claimsOf(t, body["access_token"].(string))
	if life := c["exp"].(float64) - c["iat"].(float64); life != 5 || body["expires_in"].(float64) != 5 {
		t.Errorf("token lifetime %v s, expires_in %v", life, body["expires_in"])
	}
	if roles := c["roles"].([]any); roles[0] != "Tenants.Read" {
		t.Errorf("roles %v", roles)
	}
	if exp := time.Unix(int64(c["exp"].(float64)), 0); time.Until(exp) > 6*time.Second {
		t.Errorf("exp %v", exp)
	}
}

func TestConsoleCORSPreflight(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	for _, path := range []string{"/oauth2/v2.0/token", "/v2.0/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodOptions, s.AuthorityHost()+s.OperatorTenantID()+path, nil)
		req.Header.Set("Origin", consoleOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,client-request-id,x-client-sku")
		res, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != consoleOrigin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "client-request-id") {
			t.Errorf("%s preflight: %d %v", path, res.StatusCode, h)
		}
		req.Header.Set("Origin", "https://evil.example")
		res, err = s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: a foreign origin got ACAO %q", path, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// The metadata msal-browser fetches names every endpoint it needs.
	req, _ := http.NewRequest(http.MethodGet, s.AuthorityHost()+s.OperatorTenantID()+"/v2.0/.well-known/openid-configuration", nil)
	req.Header.Set("Origin", consoleOrigin)
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var meta map[string]any
	_ = json.NewDecoder(res.Body).Decode(&meta)
	if res.Header.Get("Access-Control-Allow-Origin") != consoleOrigin {
		t.Errorf("metadata ACAO %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "end_session_endpoint", "issuer", "jwks_uri"} {
		if v, _ := meta[k].(string); !strings.HasPrefix(v, s.AuthorityHost()) {
			t.Errorf("metadata %s = %v", k, meta[k])
		}
	}
}

func TestConsoleSessionAndLogout(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := noRedirect(s)
	jar := &cookieJar{}
	c.Jar = jar
	res, err := c.PostForm(authorizeURL(s), url.Values{"persona": {"writer"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	redirectParams(t, res)
	// Silent (prompt=none) sign-in with the session.
	res, err = c.Get(authorizeURL(s, "prompt", "none"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v := redirectParams(t, res); v.Get("code") == "" {
		t.Errorf("silent sign-in with a session: %v", v)
	}
	res, err = c.Get(s.AuthorityHost() + s.OperatorTenantID() + "/oauth2/v2.0/logout?post_logout_redirect_uri=" + url.QueryEscape(consoleRedirect))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != consoleRedirect {
		t.Errorf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = c.Get(authorizeURL(s, "prompt", "none"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v := redirectParams(t, res); v.Get("error") != "login_required" {
		t.Errorf("silent sign-in after logout: %v", v)
	}
}

// cookieJar keeps cookies regardless of domain (everything here is 127.0.0.1).
type cookieJar struct{ cookies map[string]*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	if j.cookies == nil {
		j.cookies = map[string]*http.Cookie{}
	}
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.cookies, c.Name)
		} else {
			j.cookies[c.Name] = c
		}
	}
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, c)
	}
	return out
}
