package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// adminAPIClientID is the admin API app's client ID, as in local.settings.sample.json.
const adminAPIClientID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"

// The admin API through the local host, as `make run` prints it: sandbox
// operator token, list tenants, resend a link, read the audit trail.
func TestAdminAPIThroughTheHost(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	oldLink := s.provisioned(id)
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "11111111-aaaa-4bbb-8ccc-222222222222", Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	// Real-shaped v2.0 token: aud is the API's client ID GUID, never api://.
	if c := tokenClaims(t, token); c["aud"] != adminAPIClientID || c["ver"] != "2.0" || c["iss"] != s.sb.Issuer(operatorTenant) {
		t.Fatalf("sandbox operator token claims = %v", c)
	}
	call := func(method, path, body, bearer string) (int, string) {
		req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := call("GET", "/api/admin/tenants", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	// The token the banner's curl fetches from the sandbox control endpoint.
	resp, err := http.Post(s.sb.ConsentHost()+"sandbox/operator-token", "application/json",
		strings.NewReader(`{"roles":["Tenants.ReadWrite"],"name":"Local Operator"}`))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox operator-token: %d %v", resp.StatusCode, err)
	}
	if code, body := call("GET", "/api/admin/tenants", "", minted.AccessToken); code != http.StatusOK {
		t.Fatalf("banner token: %d %s", code, body)
	}
	// A v1.0 token (manifest without requestedAccessTokenVersion: 2) is
	// refused with a challenge that names the setting.
	v1, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}, Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.host.URL()+"/api/admin/tenants/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+v1)
	resp, err = s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if challenge := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, "requestedAccessTokenVersion: 2") {
		t.Fatalf("v1 token: %d, WWW-Authenticate %q", resp.StatusCode, challenge)
	}
	code, body := call("GET", "/api/admin/tenants/"+id, "", token)
	if code != http.StatusOK || !strings.Contains(body, id) {
		t.Fatalf("get tenant: %d %s", code, body)
	}
	code, body = call("POST", "/api/admin/tenants/"+id+"/consent-link", `{"email":false}`, token)
	if code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("new link: %d %s", code, body)
	}
	if resp, _ := s.get(oldLink, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("old link after resend: %d, want 403", resp.StatusCode)
	}
	var events []domain.AuditEvent
	found := false
	for _, e := range s.audit(id) {
		events = append(events, e)
		found = found || (e.Actor == "operator:11111111-aaaa-4bbb-8ccc-222222222222" && e.ActorName == "Olivia Operator")
	}
	if !found {
		b, _ := json.Marshal(events)
		t.Fatalf("no audit event names the operator: %s", b)
	}
}

// tokenClaims decodes a JWT's payload (no verification: the API verifies).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
