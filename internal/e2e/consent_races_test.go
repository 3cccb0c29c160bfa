package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// operatorCall sends an admin-API request with a sandbox operator token.
func (s *stack) operatorCall(method, path, body string) (int, string) {
	s.t.Helper()
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "11111111-aaaa-4bbb-8ccc-222222222222", Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *stack) suspend(id string) {
	s.t.Helper()
	if code, body := s.operatorCall("POST", "/api/admin/tenants/"+id+"/suspend", `{"reason":"billing hold"}`); code != http.StatusOK {
		s.t.Fatalf("suspend: %d %s", code, body)
	}
}

func (s *stack) refusals(id string) []domain.AuditEvent {
	var out []domain.AuditEvent
	for _, e := range s.audit(id) {
		if e.Action == "consent.refused" {
			out = append(out, e)
		}
	}
	return out
}

func (s *stack) confirmedMails(id string, since int) int {
	n := 0
	for _, m := range s.mailsTo(adminEmail(id), since) {
		if strings.HasPrefix(m.Subject, "Approved") {
			n++
		}
	}
	return n
}

// A callback arriving after an operator suspended the tenant shows a
// refusal, asks Graph nothing, records nothing and hands out no PowerShell;
// after offboarding it answers 410 with a page that explains.
func TestConsentCallbackAfterSuspendAndOffboard(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	link := s.provisioned(id)
	state := s.startConsent(link)
	s.sb.Consent(id, euAppID)
	s.suspend(id)
	before := lastSeq(s.sb)
	resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "on hold") || strings.Contains(body, "New-CsVideoInteropServiceProvider") {
		t.Fatalf("callback of a suspended tenant: %d %.300s", resp.StatusCode, body)
	}
	if tn := s.tenant(id); tn.Status != domain.StatusSuspended || tn.VerificationPending || !tn.ConsentedAt.IsZero() {
		t.Fatalf("tenant after refused callback = %s pending=%v", tn.Status, tn.VerificationPending)
	}
	if got := s.sb.Stats().TokenRequestsByTenant[id]; got != 0 {
		t.Errorf("refused callback asked for %d tokens", got)
	}
	refused := s.refusals(id)
	if len(refused) != 1 || refused[0].Reason != "tenant-suspended" || refused[0].SourceIP != "127.0.0.1" {
		t.Fatalf("refusal audit = %+v", refused)
	}

	// Offboarded: 410 with an explanation, not 500.
	state = s.startConsentAfterResume(id, link)
	if code, body := s.operatorCall("DELETE", "/api/admin/tenants/"+id, `{"reason":"contract ended"}`); code != http.StatusOK {
		t.Fatalf("offboard: %d %s", code, body)
	}
	resp, body = s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "has ended") {
		t.Fatalf("callback of an offboarded tenant: %d %.300s", resp.StatusCode, body)
	}
	if st := s.tenant(id).Status; st != domain.StatusOffboarded {
		t.Fatalf("status = %s", st)
	}
	s.waitIdle()
	if n := s.confirmedMails(id, before); n != 0 {
		t.Errorf("%d consent-confirmed emails after refused callbacks", n)
	}
}

// startConsentAfterResume resumes the tenant and starts consent again.
func (s *stack) startConsentAfterResume(id, link string) string {
	s.t.Helper()
	if code, body := s.operatorCall("POST", "/api/admin/tenants/"+id+"/resume", ""); code != http.StatusOK {
		s.t.Fatalf("resume: %d %s", code, body)
	}
	return s.startConsent(link)
}

// The operator suspends while the callback is verifying consent through
// Graph: the suspend wins, the callback shows a refusal and no email goes.
func TestConsentCallbackRacingSuspend(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	state := s.startConsent(s.provisioned(id))
	// Graph answers slowly, so the suspend lands between the callback's
	// read of the tenant and its write.
	s.sb.SetTenant(id, entrasim.Scenario{Faults: entrasim.Faults{Latency: 2 * time.Second, ApplyToGraph: true}})
	s.sb.Consent(id, euAppID)
	before := lastSeq(s.sb)
	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
		done <- answer{resp.StatusCode, body}
	}()
	testkit.Eventually(t, 10*time.Second, "the callback's token request", func() bool { return s.sb.Stats().TokenRequestsByTenant[id] > 0 })
	s.suspend(id)
	a := <-done
	if a.status != http.StatusForbidden || strings.Contains(a.body, "New-CsVideoInteropServiceProvider") {
		t.Fatalf("callback racing a suspend: %d %.300s", a.status, a.body)
	}
	if tn := s.tenant(id); tn.Status != domain.StatusSuspended || !tn.ConsentedAt.IsZero() {
		t.Fatalf("tenant = %s consentedAt=%v", tn.Status, tn.ConsentedAt)
	}
	if refused := s.refusals(id); len(refused) != 1 || refused[0].Reason != "tenant-suspended" {
		t.Fatalf("refusal audit = %+v", refused)
	}
	s.waitIdle()
	if n := s.confirmedMails(id, before); n != 0 {
		t.Errorf("%d consent-confirmed emails for a suspended tenant", n)
	}
}

// Consent started from 127.0.0.1 and finished from 127.0.0.2 (dual-stack or
// multi-egress networks) succeeds when both are allow-listed and is refused
// when only the first is; both addresses are audited.
func TestConsentCallbackFromAnotherAllowedIP(t *testing.T) {
	t.Parallel()
	// Two trusted hops: the test's X-Forwarded-For entry stands for the
	// client address the platform saw.
	s := newStack(t, stackOptions{settings: map[string]string{"TRUSTED_PROXY_HOPS": "2"}})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	run := func(adminIPs ...string) (string, *http.Response, string) {
		id := newTenantID()
		link := s.provisioned(id, adminIPs...)
		resp, _ := s.get(link, from("127.0.0.1"))
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start from 127.0.0.1: %d", resp.StatusCode)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		s.sb.Consent(id, euAppID)
		q := url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {u.Query().Get("state")}}
		resp, body := s.get(s.host.URL()+"/api/adminconsent/callback?"+q.Encode(), from("127.0.0.2"))
		return id, resp, body
	}

	id, resp, body := run("127.0.0.1", "127.0.0.2")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Consent granted") {
		t.Fatalf("callback from a second allowed IP: %d %.300s", resp.StatusCode, body)
	}
	if st := s.tenant(id).Status; st != domain.StatusConsented {
		t.Fatalf("status = %s", st)
	}
	verified := false
	for _, e := range s.audit(id) {
		if e.Action == "consent.verified" && e.SourceIP == "127.0.0.2" && e.Details["startIp"] == "127.0.0.1" {
			verified = true
		}
	}
	if !verified {
		t.Errorf("consent.verified does not carry both addresses: %+v", s.audit(id))
	}

	id, resp, body = run("127.0.0.1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "127.0.0.2") || strings.Contains(body, "Consent granted") {
		t.Fatalf("callback from an address outside the allow-list: %d %.300s", resp.StatusCode, body)
	}
	if st := s.tenant(id).Status; st != domain.StatusProvisioned {
		t.Fatalf("status after refused callback = %s", st)
	}
	refused := s.refusals(id)
	if len(refused) != 1 || refused[0].Reason != "ip-not-allowed" || refused[0].SourceIP != "127.0.0.2" || refused[0].Details["startIp"] != "127.0.0.1" {
		t.Fatalf("refusal audit = %+v", refused)
	}
	if got := s.sb.Stats().TokenRequestsByTenant[id]; got != 0 {
		t.Errorf("refused callback asked for %d tokens", got)
	}
}

// The IP refusal page shows the caller's address and how to get it added,
// never the tenant's allow-list.
func TestIPRefusalPageHidesAllowList(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	link := s.provisioned(id, "203.0.113.7", "198.51.100.0/24")
	resp, body := s.get(link, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "add it to your organization") {
		t.Fatalf("refusal: %d %.300s", resp.StatusCode, body)
	}
	for _, ip := range []string{"203.0.113.7", "198.51.100.0"} {
		if strings.Contains(body, ip) {
			t.Errorf("refusal page shows allowed address %s", ip)
		}
	}
}
