package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/sandbox"
)

// The admin API through the local host, as `make run` prints it: sandbox
// operator token, list tenants, resend a link, read the audit trail.
func TestAdminAPIThroughTheHost(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	oldLink := s.provisioned(id)
	token, err := s.sb.MintOperatorToken(sandbox.OperatorClaims{OID: "11111111-aaaa-4bbb-8ccc-222222222222", Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
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
