package entrasim_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestStartRefusesInsideAzure(t *testing.T) {
	t.Parallel()
	_, err := entrasim.Start(context.Background(), entrasim.Options{
		OperatorTenantID: testkit.GUID(t),
		LookupEnv: func(name string) (string, bool) {
			if name == "WEBSITE_SITE_NAME" {
				return "cvi-onboarding-prod", true
			}
			return "", false
		},
	})
	if err == nil || !strings.Contains(err.Error(), "WEBSITE_SITE_NAME") {
		t.Fatalf("Start inside Azure: err = %v, want refusal naming WEBSITE_SITE_NAME", err)
	}
}

func TestStartValidatesOptions(t *testing.T) {
	t.Parallel()
	if _, err := entrasim.Start(context.Background(), entrasim.Options{OperatorTenantID: "contoso", LookupEnv: noEnv}); err == nil {
		t.Error("non-GUID operator tenant accepted")
	}
	if _, err := entrasim.Start(context.Background(), entrasim.Options{OperatorTenantID: testkit.GUID(t), LookupEnv: noEnv, HTTPAddr: "0.0.0.0:0"}); err == nil {
		t.Error("non-loopback listen address accepted")
	}
}

func TestAzidentityTokenAfterConsent(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	ctx := t.Context()

	_, err := getToken(ctx, credential(t, s, tenantID, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(700016) || e.Error != "unauthorized_client" || e.Status != http.StatusBadRequest ||
		!strings.Contains(e.ErrorDescription, "AADSTS700016: Application with identifier '"+testAppID+"' was not found in the directory '"+tenantID+"'") {
		t.Fatalf("before consent: %+v", e)
	}

	s.Consent(tenantID, testAppID)
	tok, err := getToken(ctx, credential(t, s, tenantID, testAppID, testSecret))
	if err != nil {
		t.Fatalf("after consent: %v", err)
	}
	if until := time.Until(tok.ExpiresOn); until < 55*time.Minute || until > 61*time.Minute {
		t.Errorf("ExpiresOn in %v, want about an hour", until)
	}
	c := claimsOf(t, tok.Token)
	if got := stringsOf(c["roles"]); !slices.Equal(got, s.RequiredRoles()) {
		t.Errorf("roles = %v, want %v", got, s.RequiredRoles())
	}
	want := map[string]any{
		"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/" + tenantID + "/",
		"tid": tenantID, "appid": testAppID, "idtyp": "app", "ver": "1.0",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	for _, k := range []string{"oid", "iat", "nbf", "exp"} {
		if c[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
	verifyWithJWKS(t, s, tenantID, tok.Token)

	// oid is the service principal's object id, as Graph reports it.
	res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok.Token, nil)
	var sp struct{ ID string }
	if err := json.Unmarshal(res.Body, &sp); err != nil || sp.ID != c["oid"] {
		t.Errorf("SP id %q (err %v), token oid %v", sp.ID, err, c["oid"])
	}
}

func TestAzidentityRevokedDisabledDeleted(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	ctx := t.Context()

	removed := testkit.GUID(t)
	s.Consent(removed, testAppID)
	if _, err := getToken(ctx, credential(t, s, removed, testAppID, testSecret)); err != nil {
		t.Fatalf("consented tenant: %v", err)
	}
	s.RemoveServicePrincipal(removed, testAppID)
	_, err := getToken(ctx, credential(t, s, removed, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(700016) {
		t.Errorf("after RemoveServicePrincipal: %+v", e)
	}

	disabled := testkit.GUID(t)
	s.Consent(disabled, testAppID)
	s.SetSPEnabled(disabled, testAppID, false)
	_, err = getToken(ctx, credential(t, s, disabled, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(7000112) || e.Error != "unauthorized_client" || !strings.Contains(e.ErrorDescription, "is disabled") {
		t.Errorf("disabled SP: %+v", e)
	}
	scenarioDisabled := testkit.GUID(t)
	s.SetTenant(scenarioDisabled, entrasim.Scenario{SPDisabled: true})
	s.Consent(scenarioDisabled, testAppID)
	_, err = getToken(ctx, credential(t, s, scenarioDisabled, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(7000112) {
		t.Errorf("SPDisabled scenario: %+v", e)
	}

	deleted := testkit.GUID(t)
	s.Consent(deleted, testAppID)
	s.DeleteTenant(deleted)
	_, err = getToken(ctx, credential(t, s, deleted, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(90002) || e.Error != "invalid_tenant" || e.Status != http.StatusBadRequest || e.TraceID == "" || e.Timestamp == "" {
		t.Errorf("deleted tenant: %+v", e)
	}
	deletedByScenario := testkit.GUID(t)
	s.SetTenant(deletedByScenario, entrasim.Scenario{Deleted: true})
	_, err = getToken(ctx, credential(t, s, deletedByScenario, testAppID, testSecret))
	if e := aadErrorOf(t, err); !e.hasCode(90002) {
		t.Errorf("Deleted scenario: %+v", e)
	}
}

func TestAzidentityWrongSecretAndUnknownApp(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	s.Consent(tenantID, anySecretApp)

	_, err := getToken(t.Context(), credential(t, s, tenantID, testAppID, "wrong"))
	if e := aadErrorOf(t, err); !e.hasCode(7000215) || e.Error != "invalid_client" || e.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %+v", e)
	}
	if _, err := getToken(t.Context(), credential(t, s, tenantID, anySecretApp, "whatever")); err != nil {
		t.Errorf("app without configured secret should accept any secret: %v", err)
	}
	_, err = getToken(t.Context(), credential(t, s, tenantID, testkit.GUID(t), "x"))
	if e := aadErrorOf(t, err); !e.hasCode(700016) {
		t.Errorf("unregistered app: %+v", e)
	}
}

func TestAzidentityGrantRolesSubsetAndNoRoles(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	partial := testkit.GUID(t)
	subset := []string{"User.Read.All", "Calls.AccessMedia.All"}
	s.SetTenant(partial, entrasim.Scenario{GrantRoles: subset})
	s.Consent(partial, testAppID)
	tok, err := getToken(t.Context(), credential(t, s, partial, testAppID, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := stringsOf(claimsOf(t, tok.Token)["roles"]); !slices.Equal(got, subset) {
		t.Errorf("roles = %v, want %v", got, subset)
	}

	none := testkit.GUID(t)
	s.SetTenant(none, entrasim.Scenario{GrantRoles: []string{}})
	s.Consent(none, testAppID)
	tok, err = getToken(t.Context(), credential(t, s, none, testAppID, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, present := claimsOf(t, tok.Token)["roles"]; present {
		t.Error("token for a tenant with no granted roles must have no roles claim")
	}

	// SetRoles changes later tokens (new credential: MSAL caches per credential).
	s.SetRoles(none, testAppID, []string{"OnlineMeetings.Read.All"})
	tok, err = getToken(t.Context(), credential(t, s, none, testAppID, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := stringsOf(claimsOf(t, tok.Token)["roles"]); !slices.Equal(got, []string{"OnlineMeetings.Read.All"}) {
		t.Errorf("roles after SetRoles = %v", got)
	}
}

func TestAzidentityClientAssertion(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	cred, err := azidentity.NewClientAssertionCredential(tenantID, testAppID,
		func(context.Context) (string, error) { return "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtaSJ9.c2ln", nil },
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost()},
				Transport: s.HTTPClient(),
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(t.Context(), cred)
	if err != nil {
		t.Fatalf("client assertion: %v", err)
	}
	if acr := claimsOf(t, tok.Token)["appidacr"]; acr != "2" {
		t.Errorf("appidacr = %v, want 2", acr)
	}
}

func TestTokenEndpointDownAndThrottled(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)

	s.SetFaults(entrasim.Faults{TokenEndpointDown: true, ApplyToGraph: true})
	_, err := getToken(t.Context(), credential(t, s, tenantID, testAppID, testSecret))
	if e := aadErrorOfStatus(t, err); e != http.StatusServiceUnavailable {
		t.Errorf("TokenEndpointDown: status %d", e)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {testAppID}, "client_secret": {testSecret}, "scope": {graphScope}}
	if status, _ := postToken(t, s, tenantID, form); status != http.StatusServiceUnavailable {
		t.Errorf("TokenEndpointDown plain POST: %d", status)
	}

	s.SetFaults(entrasim.Faults{Rate429: 1, RetryAfterSeconds: 7, ApplyToToken: true})
	resp, err := s.HTTPClient().PostForm(s.AuthorityHost()+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("Rate429 token: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// Graph-only faults leave the token endpoint alone.
	s.SetFaults(entrasim.Faults{Status503: true, ApplyToGraph: true})
	if status, body := postToken(t, s, tenantID, form); status != http.StatusOK {
		t.Errorf("Graph-only fault affected token endpoint: %d %s", status, body)
	}
	if st := s.Stats(); st.TokenRequests < 4 || st.TokenRequestsByTenant[tenantID] < 4 || st.Served429 != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func aadErrorOfStatus(t *testing.T, err error) int {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("error %T %v, want AuthenticationFailedError with a response", err, err)
	}
	return afe.RawResponse.StatusCode
}

func TestTokenEndpointRequestValidation(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {testAppID}, "client_secret": {testSecret}, "scope": {graphScope}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range base {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   string
	}{
		{"no scope", tenantID, with("scope", ""), 400, "900144"},
		{"scope without .default", tenantID, with("scope", "https://graph.microsoft.com/User.Read.All"), 400, "1002012"},
		{"other resource", tenantID, with("scope", "api://other/.default"), 400, "500011"},
		{"no credential", tenantID, with("client_secret", ""), 401, "7000216"},
		{"wrong grant", tenantID, with("grant_type", "password"), 400, "70003"},
		{"non-GUID tenant", "contoso.example", base, 400, "90002"},
	}
	for _, tc := range cases {
		status, body := postToken(t, s, tc.tenant, tc.form)
		if status != tc.status || !strings.Contains(string(body), "AADSTS"+tc.code+":") {
			t.Errorf("%s: HTTP %d %s", tc.name, status, body)
		}
	}
	// client_secret_basic works too.
	req, _ := http.NewRequest(http.MethodPost, s.AuthorityHost()+tenantID+"/oauth2/v2.0/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {graphScope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testAppID, testSecret)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("client_secret_basic: %d", resp.StatusCode)
	}
}

func TestOpenIDConfigurationAndJWKS(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	var cfg map[string]any
	getJSON(t, s.HTTPClient(), s.OpenIDConfigurationURL(tenantID), http.StatusOK, &cfg)
	base := s.AuthorityHost() + tenantID
	for k, v := range map[string]string{
		"issuer": base + "/v2.0", "token_endpoint": base + "/oauth2/v2.0/token",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize", "jwks_uri": s.JWKSURL(tenantID),
		"tenant_region_scope": "EU",
	} {
		if cfg[k] != v {
			t.Errorf("%s = %v, want %v", k, cfg[k], v)
		}
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, s.HTTPClient(), s.JWKSURL(tenantID), http.StatusOK, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kty"] != "RSA" || jwks.Keys[0]["use"] != "sig" || jwks.Keys[0]["kid"] == "" || jwks.Keys[0]["e"] != "AQAB" {
		t.Errorf("jwks = %v", jwks)
	}

	s.DeleteTenant(tenantID)
	var e aadError
	getJSON(t, s.HTTPClient(), s.OpenIDConfigurationURL(tenantID), http.StatusBadRequest, &e)
	if e.Error != "invalid_tenant" || !e.hasCode(90002) || !strings.HasPrefix(e.ErrorDescription, "AADSTS90002: Tenant '"+tenantID+"' not found.") || e.CorrelationID == "" {
		t.Errorf("deleted tenant metadata: %+v", e)
	}
}

func TestOperatorTokenVerifiesAgainstJWKS(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) { o.AdminAPIAudience = "api://test-admin" })
	op := s.OperatorTenantID()
	tok, err := s.MintOperatorToken(entrasim.OperatorClaims{Name: "Ops Person", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	verifyWithJWKS(t, s, op, tok)
	c := claimsOf(t, tok)
	var cfg struct {
		Issuer string `json:"issuer"`
	}
	getJSON(t, s.HTTPClient(), s.OpenIDConfigurationURL(op), http.StatusOK, &cfg)
	if c["iss"] != s.AuthorityHost()+op+"/v2.0" || c["iss"] != cfg.Issuer {
		t.Errorf("iss = %v, metadata issuer %s", c["iss"], cfg.Issuer)
	}
	if c["aud"] != s.AdminAPIClientID() || c["name"] != "Ops Person" || c["oid"] == nil || c["tid"] != op ||
		!slices.Equal(stringsOf(c["roles"]), []string{"Tenants.ReadWrite"}) {
		t.Errorf("claims = %v", c)
	}
	exp, iat := c["exp"].(float64), c["iat"].(float64)
	if exp-iat != 3600 {
		t.Errorf("lifetime = %v", exp-iat)
	}

	past := time.Now().Add(-2 * time.Hour)
	expired, err := s.MintOperatorToken(entrasim.OperatorClaims{IssuedAt: past, ExpiresAt: past.Add(time.Hour), Audience: "api://other", Issuer: "https://evil/"})
	if err != nil {
		t.Fatal(err)
	}
	ec := claimsOf(t, expired)
	if int64(ec["exp"].(float64)) != past.Add(time.Hour).Unix() || ec["aud"] != "api://other" || ec["iss"] != "https://evil/" {
		t.Errorf("overrides not applied: %v", ec)
	}
	// Operator tokens are not Graph tokens.
	if res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("operator token accepted by Graph: %d", res.Status)
	}
}

// verifyWithJWKS checks an RS256 signature with the key the tenant's JWKS serves.
func verifyWithJWKS(t *testing.T, s *entrasim.Sandbox, tenantID, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var header struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	if header.Alg != "RS256" || header.Kid == "" {
		t.Fatalf("header = %+v", header)
	}
	var jwks struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	getJSON(t, s.HTTPClient(), s.JWKSURL(tenantID), http.StatusOK, &jwks)
	for _, k := range jwks.Keys {
		if k.Kid != header.Kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("signature does not verify with JWKS key: %v", err)
		}
		return
	}
	t.Fatalf("kid %s not in JWKS", header.Kid)
}

func getJSON(t testing.TB, c *http.Client, rawURL string, wantStatus int, v any) {
	t.Helper()
	resp, err := c.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d, want %d", rawURL, resp.StatusCode, wantStatus)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", rawURL, err)
	}
}

func TestCACertificate(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	path := t.TempDir() + "/ca.pem"
	if err := s.WriteCACert(path); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(s.CACertPEM()), "-----BEGIN CERTIFICATE-----") {
		t.Error("CACertPEM is not PEM")
	}
	// A client without the CA must refuse the TLS listener.
	if _, err := http.Get(s.OpenIDConfigurationURL(testkit.GUID(t))); err == nil {
		t.Error("default client trusted the sandbox certificate")
	}
	pool := s.CertPool()
	if pool == nil {
		t.Fatal("nil pool")
	}
	// localhost is in the certificate too.
	host := strings.Replace(s.AuthorityHost(), "127.0.0.1", "localhost", 1)
	resp, err := s.HTTPClient().Get(host + testkit.GUID(t) + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatalf("localhost TLS: %v", err)
	}
	resp.Body.Close()
}

func TestContextCancelStopsSandbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := entrasim.Start(ctx, entrasim.Options{OperatorTenantID: testkit.GUID(t), LookupEnv: noEnv, SigningKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(s.ControlURL()); err != nil {
		t.Fatalf("running sandbox: %v", err)
	} else {
		resp.Body.Close()
	}
	cancel()
	testkit.Eventually(t, 5*time.Second, "the sandbox to stop serving after its context was cancelled", func() bool {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(s.ControlURL())
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	})
	if err := s.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}
