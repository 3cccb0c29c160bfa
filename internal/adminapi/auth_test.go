package adminapi

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// forgeUnsigned builds an alg=none token with the given claims.
func forgeUnsigned(t *testing.T, kid string, c jwt.MapClaims) string {
	t.Helper()
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	payload, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// forgeHS256 signs with HMAC using the published RSA public key (PEM) as
// the secret: the classic algorithm-confusion attack.
func forgeHS256(t *testing.T, id *identity, c jwt.MapClaims) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&id.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = id.kid
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokensThatMustNotPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	valid := func() jwt.MapClaims { return e.id.claims(e.writer) }
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		c[k] = v
		return c
	}
	now := time.Now()
	unknownKid := jwt.NewWithClaims(jwt.SigningMethodRS256, valid())
	unknownKid.Header["kid"] = "not-a-published-key"
	unknownKidToken, err := unknownKid.SignedString(e.id.key)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		token  string
		status int
		// challenge is the RFC 6750 error the WWW-Authenticate header carries.
		challenge string
	}{
		{"no token", "", http.StatusUnauthorized, ""},
		{"alg none", forgeUnsigned(t, e.id.kid, valid()), http.StatusUnauthorized, "invalid_token"},
		{"HS256 signed with the public key", forgeHS256(t, e.id, valid()), http.StatusUnauthorized, "invalid_token"},
		{"wrong audience", e.id.sign(t, with("aud", "api://someone-else")), http.StatusUnauthorized, "invalid_token"},
		{"App ID URI as v2 audience", e.id.sign(t, with("aud", sampleAdminAPI().appIDURI)), http.StatusUnauthorized, "invalid_token"},
		{"Graph audience", e.id.sign(t, with("aud", "https://graph.microsoft.com")), http.StatusUnauthorized, "invalid_token"},
		{"wrong issuer", e.id.sign(t, with("iss", "https://login.microsoftonline.com/"+testkit.GUID(t)+"/v2.0")), http.StatusUnauthorized, "invalid_token"},
		{"expired", e.id.sign(t, with("exp", now.Add(-10*time.Minute).Unix())), http.StatusUnauthorized, "invalid_token"},
		{"not yet valid", e.id.sign(t, with("nbf", now.Add(10*time.Minute).Unix())), http.StatusUnauthorized, "invalid_token"},
		{"unknown kid", unknownKidToken, http.StatusUnauthorized, "invalid_token"},
		{"tampered payload", tamper(t, e.writerToken), http.StatusUnauthorized, "invalid_token"},
		{"no roles", e.id.token(t, operator{oid: e.writer.oid, name: "No Roles"}), http.StatusForbidden, "insufficient_scope"},
		{"unrelated role", e.id.token(t, operator{oid: e.writer.oid, name: "Other", roles: []string{"Reports.Read"}}), http.StatusForbidden, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, rq := range []request{
				{method: "GET", path: "/api/admin/tenants/" + tenant.TenantID},
				{method: "POST", path: "/api/admin/tenants/" + tenant.TenantID + "/suspend"},
			} {
				rq.token = tc.token
				r := e.do(rq)
				p := r.problem(t, tc.status)
				challenge := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(challenge, "Bearer ") {
					t.Errorf("%s %s: WWW-Authenticate %q, want a Bearer challenge", rq.method, rq.path, challenge)
				}
				if tc.challenge != "" && !strings.Contains(challenge, `error="`+tc.challenge+`"`) {
					t.Errorf("%s %s: WWW-Authenticate %q lacks error=%q", rq.method, rq.path, challenge, tc.challenge)
				}
				if tc.token != "" && strings.Contains(string(r.body), tc.token) {
					t.Errorf("the problem echoes the token: %+v", p)
				}
			}
		})
	}
	// Nothing got through: the tenant is still Provisioned and only the
	// provisioning event is on record.
	got, _ := e.getTenant(tenant.TenantID)
	if got.Status != "Provisioned" {
		t.Errorf("status %s after rejected calls", got.Status)
	}
	for _, ev := range e.events(tenant.TenantID) {
		if ev.Action != "tenant.provisioned" {
			t.Errorf("unexpected audit event %+v", ev)
		}
	}
}

// A real v2.0 token works with the sample settings; the v1.0 token Entra
// issues while the API's manifest does not request v2 (iss sts.windows.net,
// aud the App ID URI, appid) is refused with a challenge naming the setting.
func TestV1TokenRefusedNamingTheManifestSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Northwind", "northwind.com", "eu")
	path := "/api/admin/tenants/" + tenant.TenantID
	v2 := e.id.claims(e.writer)
	if v2["aud"] != sampleAdminAPI().clientID || len(sampleAdminAPI().clientID) != 36 {
		t.Fatalf("v2 aud = %v, want the sample's client ID GUID", v2["aud"])
	}
	e.do(request{method: "GET", path: path, token: e.id.sign(t, v2)}).want(t, http.StatusOK)

	v1 := e.id.claims(e.writer)
	v1["iss"] = "https://sts.windows.net/" + operatorTenant + "/"
	v1["aud"] = sampleAdminAPI().appIDURI
	v1["appid"], v1["appidacr"], v1["ver"] = v1["azp"], "0", "1.0"
	delete(v1, "azp")
	for _, method := range []string{"GET", "POST"} {
		rq := request{method: method, path: path, token: e.id.sign(t, v1)}
		if method == "POST" {
			rq.path += "/suspend"
		}
		r := e.do(rq)
		if p := r.problem(t, http.StatusUnauthorized); !strings.Contains(p.Detail, "requestedAccessTokenVersion: 2") {
			t.Errorf("%s: problem detail %q does not name the manifest setting", method, p.Detail)
		}
		challenge := r.header.Get("WWW-Authenticate")
		for _, want := range []string{`error="invalid_token"`, "error_description=", "requestedAccessTokenVersion: 2", "app manifest"} {
			if !strings.Contains(challenge, want) {
				t.Errorf("%s: WWW-Authenticate %q lacks %q", method, challenge, want)
			}
		}
	}
	if got, _ := e.getTenant(tenant.TenantID); got.Status != "Provisioned" {
		t.Errorf("status %s after a refused v1 call", got.Status)
	}
}

// tamper flips the payload to claim another role, keeping the signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["name"] = "Mallory"
	b, _ := json.Marshal(c)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestRolesPerMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Fabrikam", "fabrikam.com", "eu")
	// Read may read, not write.
	e.do(request{method: "GET", path: "/api/admin/tenants/" + tenant.TenantID, token: e.readerToken}).want(t, http.StatusOK)
	r := e.do(request{method: "POST", path: "/api/admin/tenants/" + tenant.TenantID + "/suspend", token: e.readerToken})
	p := r.problem(t, http.StatusForbidden)
	if !strings.Contains(p.Detail, auth.RoleReadWrite) {
		t.Errorf("detail %q does not name the missing role", p.Detail)
	}
	// ReadWrite implies Read.
	e.do(request{method: "GET", path: "/api/admin/tenants", token: e.writerToken}).want(t, http.StatusOK)
	// The document is public.
	r = e.do(request{method: "GET", path: "/api/admin/openapi.json"}).want(t, http.StatusOK)
	var doc map[string]any
	r.decode(t, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("served document: openapi = %v", doc["openapi"])
	}
}

// TestSigningKeysUnavailable: when the JWKS cannot be fetched the token may
// be fine, so the answer is 503 with Retry-After, not 401.
func TestSigningKeysUnavailable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	e := newEnv(t, func(d *envDeps) {
		v, err := auth.NewValidator(auth.Config{Issuer: "https://login.microsoftonline.com/" + operatorTenant + "/v2.0",
			ClientID: sampleAdminAPI().clientID, JWKSURL: downURL + "/keys"})
		if err != nil {
			t.Fatal(err)
		}
		d.Auth = v
	})
	r := e.do(request{method: "GET", path: "/api/admin/tenants", token: e.readerToken})
	r.problem(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}
