package entrasim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const callback = "http://127.0.0.1:7071/api/adminconsent/callback"

func TestConsentPageRendersForm(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	resp, err := http.Get(s.AdminConsentURL(tenantID, testAppID, callback, "st<ate>1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"SANDBOX — simulated Microsoft sign-in, not Microsoft",
		`id="accept"`, `id="cancel"`, `method="post"`,
		`action="/` + tenantID + `/v2.0/adminconsent"`,
		`name="client_id" value="` + testAppID + `"`,
		`name="redirect_uri" value="` + callback + `"`,
		`name="scope" value="https://graph.microsoft.com/.default"`,
		`name="state" value="st&lt;ate&gt;1"`,
		"OneMeeting CVI (test)", tenantID, "Calls.AccessMedia.All", "OnlineMeetings.ReadWrite.All", "User.Read.All",
		`<html lang="en">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("page contains script")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "form-action 'self' http://127.0.0.1:7071") || !strings.Contains(csp, "style-src 'sha256-") {
		t.Errorf("CSP = %q", csp)
	}
}

func postConsent(t *testing.T, s *entrasim.Sandbox, tenantID string, form url.Values) *http.Response {
	t.Helper()
	resp, err := noRedirectClient().PostForm(s.ConsentHost()+tenantID+"/v2.0/adminconsent", form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestConsentAcceptRedirectsAndGrants(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	form := url.Values{"client_id": {testAppID}, "scope": {"https://graph.microsoft.com/.default"}, "redirect_uri": {callback}, "state": {"abc 123"}, "action": {"accept"}}
	resp := postConsent(t, s, tenantID, form)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("accept: %d", resp.StatusCode)
	}
	wantLoc := callback + "?admin_consent=True&tenant=" + tenantID + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&state=abc+123"
	if loc := resp.Header.Get("Location"); loc != wantLoc {
		t.Errorf("Location = %s\nwant       %s", loc, wantLoc)
	}
	// Consent is real: a token is now issued with every required role.
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)
	if roles := stringsOf(claimsOf(t, tok)["roles"]); len(roles) != 8 {
		t.Errorf("roles after accept = %v", roles)
	}
}

func TestConsentAcceptFollowsScenario(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.SetTenant(tenantID, entrasim.Scenario{GrantRoles: []string{"User.Read.All"}})
	form := url.Values{"client_id": {testAppID}, "scope": {"https://graph.microsoft.com/.default"}, "redirect_uri": {"http://localhost:8080/cb?x=1"}, "action": {"accept"}}
	resp := postConsent(t, s, tenantID, form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("x") != "1" || loc.Query().Get("tenant") != tenantID {
		t.Fatalf("accept: %d %s", resp.StatusCode, loc)
	}
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)
	if roles := stringsOf(claimsOf(t, tok)["roles"]); len(roles) != 1 || roles[0] != "User.Read.All" {
		t.Errorf("roles = %v", roles)
	}
}

func TestConsentCancelRedirectsWithError(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	form := url.Values{"client_id": {testAppID}, "scope": {"https://graph.microsoft.com/.default"}, "redirect_uri": {callback}, "state": {"xyz"}, "action": {"cancel"}}
	resp := postConsent(t, s, tenantID, form)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	// As Entra: no admin_consent on Cancel (identity-graph.md §1).
	wantLoc := callback + "?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent+to+access+the+app.&state=xyz"
	if loc := resp.Header.Get("Location"); loc != wantLoc {
		t.Errorf("Location = %s\nwant       %s", loc, wantLoc)
	}
	status, body := postToken(t, s, tenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {testAppID}, "client_secret": {testSecret}, "scope": {graphScope}})
	var e aadError
	if err := json.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || !e.hasCode(700016) {
		t.Errorf("after cancel token: %d %s", status, body)
	}
}

func TestConsentErrorsShowPageWithoutRedirect(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) {
		o.AllowedRedirectPrefixes = []string{"http://127.0.0.1:7071/api/adminconsent/callback"}
	})
	deleted := testkit.GUID(t)
	s.DeleteTenant(deleted)
	tenantID := testkit.GUID(t)
	cases := []struct {
		name, tenant, clientID, scope, redirect, want string
	}{
		{"bad redirect", tenantID, testAppID, graphScope, "http://127.0.0.1:9999/steal", "AADSTS50011"},
		{"https elsewhere", tenantID, testAppID, graphScope, "https://evil.example/cb", "AADSTS50011"},
		{"unknown app", tenantID, testkit.GUID(t), graphScope, callback, "AADSTS700016"},
		{"missing client_id", tenantID, "", graphScope, callback, "AADSTS90014"},
		{"missing scope", tenantID, testAppID, "", callback, "AADSTS90014"},
		{"missing redirect", tenantID, testAppID, graphScope, "", "AADSTS90014"},
		{"wrong scope", tenantID, testAppID, "openid", callback, "AADSTS70011"},
		{"deleted tenant", deleted, testAppID, graphScope, callback, "AADSTS90002"},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			q := url.Values{}
			for k, v := range map[string]string{"client_id": tc.clientID, "scope": tc.scope, "redirect_uri": tc.redirect, "state": "s"} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var resp *http.Response
			var err error
			target := s.ConsentHost() + tc.tenant + "/v2.0/adminconsent"
			if method == http.MethodGet {
				resp, err = noRedirectClient().Get(target + "?" + q.Encode())
			} else {
				q.Set("action", "accept")
				resp, err = noRedirectClient().PostForm(target, q)
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(b), tc.want) || !strings.Contains(string(b), "SANDBOX — simulated Microsoft sign-in") {
				t.Errorf("%s %s: %d Location=%q body has %s: %v", tc.name, method, resp.StatusCode, resp.Header.Get("Location"), tc.want, strings.Contains(string(b), tc.want))
			}
		}
	}
	// Nothing was consented by the refused POSTs.
	status, _ := postToken(t, s, tenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {testAppID}, "client_secret": {testSecret}, "scope": {graphScope}})
	if status != http.StatusBadRequest {
		t.Errorf("refused consent granted a token: %d", status)
	}
}

func TestControlSurface(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)

	resp, err := http.Get(s.ControlURL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), tenantID) || !strings.Contains(string(b), "SANDBOX") ||
		!strings.Contains(string(b), s.GraphBaseURL()) {
		t.Errorf("control page: %d\n%s", resp.StatusCode, b)
	}

	resp, err = http.Post(s.ConsentHost()+"sandbox/operator-token", "application/json", strings.NewReader(`{"roles":["Tenants.Read"],"name":"Dev"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("operator-token: %d %v", resp.StatusCode, err)
	}
	verifyWithJWKS(t, s, s.OperatorTenantID(), tr.AccessToken)
	if c := claimsOf(t, tr.AccessToken); c["name"] != "Dev" || stringsOf(c["roles"])[0] != "Tenants.Read" {
		t.Errorf("claims = %v", c)
	}

	// A cross-site form post from a web page is refused.
	req, _ := http.NewRequest(http.MethodPost, s.ConsentHost()+"sandbox/operator-token", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", resp.StatusCode)
	}
	resp, err = http.Post(s.ConsentHost()+"sandbox/operator-token", "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d", resp.StatusCode)
	}
}
