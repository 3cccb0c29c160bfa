package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// opsOnlyMails are the emails to operations since `since` that are not also
// addressed to a customer (a revoked/degraded email copies operations) and
// that name one of mentions (a tenant or run of this test: the sandbox and
// the ops address are shared by parallel tests).
func (s *stack) opsOnlyMails(since int, subject string, mentions ...string) []entrasim.SentMail {
	var out []entrasim.SentMail
	for _, m := range s.mailsTo("ops@videosrv.net", since) {
		if len(m.To) != 1 || !strings.Contains(m.Subject, subject) {
			continue
		}
		for _, want := range mentions {
			if strings.Contains(m.Subject, want) || strings.Contains(m.HTMLBody, want) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// A Consented tenant whose enterprise app was deleted goes Revoked in one
// run whichever code Entra answers (7000229 HTTP 401 or 700016 HTTP 400):
// one consent-revoked email each, no ops alert.
func TestRevalidationMissingServicePrincipalRevokesInOneRun(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	codes := map[int]string{7000229: newTenantID(), 700016: newTenantID()}
	for code, id := range codes {
		s.consentedTenant(id)
		s.sb.SetTenant(id, entrasim.Scenario{MissingSPCode: code})
		s.sb.RemoveServicePrincipal(id, euAppID)
	}
	before := lastSeq(s.sb)
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-missing-sp", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	for code, id := range codes {
		tn := s.tenant(id)
		if tn.Status != domain.StatusRevoked || !strings.Contains(tn.StatusReason, "AADSTS"+itoa(code)) {
			t.Errorf("AADSTS%d: status %s (%q), want Revoked for that code", code, tn.Status, tn.StatusReason)
		}
		if got := kinds(s.mailsTo(adminEmail(id), before)); got["revoked"] != 1 || len(got) != 1 {
			t.Errorf("AADSTS%d: customer emails = %v, want exactly one consent-revoked", code, got)
		}
	}
	if got := s.opsOnlyMails(before, "", codes[7000229], codes[700016], "run-missing-sp"); len(got) != 0 {
		t.Errorf("ops alerts = %d (first %q), want none: a deleted enterprise app is the customer's doing", len(got), got[0].Subject)
	}
}

// The consent callback for a tenant that still has no service principal
// after the verify wait shows "Consent was not granted" and records nothing.
func TestConsentCallbackMissingServicePrincipalNotGranted(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for _, code := range []int{7000229, 700016} {
		id := newTenantID()
		s.sb.SetTenant(id, entrasim.Scenario{MissingSPCode: code})
		state := s.startConsent(s.provisioned(id))
		resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Consent was not granted") ||
			!strings.Contains(body, "AADSTS"+itoa(code)) || !strings.Contains(body, "isn&#39;t in your tenant") {
			t.Errorf("AADSTS%d: callback %d, want the not-granted page naming the code: %.600s", code, resp.StatusCode, body)
		}
		tn := s.tenant(id)
		if tn.Status != domain.StatusProvisioned || tn.VerificationPending {
			t.Errorf("AADSTS%d: tenant %s pending=%v, want Provisioned and not pending", code, tn.Status, tn.VerificationPending)
		}
		audited := false
		for _, e := range s.audit(id) {
			audited = audited || e.Action == "consent.not-granted"
		}
		if !audited {
			t.Errorf("AADSTS%d: no consent.not-granted audit event", code)
		}
	}
	s.waitIdle()
	if st := s.host.QueueStats(queue.Revalidation); st.Scheduled != 0 {
		t.Errorf("scheduled re-checks = %d, want none", st.Scheduled)
	}
}

// disabledByMicrosoftStatus "NotDisabled" is enabled (callback and
// re-validation keep Consented); DisabledDueToViolationOfServicesAgreement
// makes the tenant Degraded.
func TestRevalidationDisabledByMicrosoftStatus(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	healthy, violating := newTenantID(), newTenantID()
	s.sb.SetTenant(healthy, entrasim.Scenario{DisabledByMicrosoftStatus: "NotDisabled"})
	s.consentedTenant(healthy) // fails unless the callback reads NotDisabled as enabled
	s.consentedTenant(violating)
	s.sb.SetDisabledByMicrosoft(violating, euAppID, "DisabledDueToViolationOfServicesAgreement")
	before := lastSeq(s.sb)
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-disabled-by-microsoft", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	if tn := s.tenant(healthy); tn.Status != domain.StatusConsented {
		t.Errorf("NotDisabled: status %s (%q), want Consented", tn.Status, tn.StatusReason)
	}
	if got := len(s.mailsTo(adminEmail(healthy), before)); got != 0 {
		t.Errorf("NotDisabled: %d customer emails, want none", got)
	}
	tn := s.tenant(violating)
	if tn.Status != domain.StatusDegraded || !strings.Contains(tn.StatusReason, "DisabledDueToViolationOfServicesAgreement") {
		t.Errorf("violation: status %s (%q), want Degraded naming the status", tn.Status, tn.StatusReason)
	}
	if got := kinds(s.mailsTo(adminEmail(violating), before)); got["degraded"] != 1 || len(got) != 1 {
		t.Errorf("violation: customer emails = %v, want exactly one degraded", got)
	}
}

// Graph tokens that are not JWTs: tenants keep the service principal's
// verdict with roles unknown on the record, a tenant Degraded for missing
// roles is not "recovered" on no evidence, and operations get one warning
// per run, not one per tenant.
func TestRevalidationOpaqueTokensRolesUnknown(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	ok1, ok2, degraded := newTenantID(), newTenantID(), newTenantID()
	for _, id := range []string{ok1, ok2, degraded} {
		s.consentedTenant(id)
	}
	s.sb.SetRoles(degraded, euAppID, domain.RequiredGraphRoles[1:])
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-readable", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	if st := s.tenant(degraded).Status; st != domain.StatusDegraded {
		t.Fatalf("setup: %s, want Degraded", st)
	}
	for _, id := range []string{ok1, ok2, degraded} {
		s.sb.SetTenant(id, entrasim.Scenario{OpaqueTokens: true})
	}
	before := lastSeq(s.sb)
	for run := 1; run <= 2; run++ {
		if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-opaque-"+itoa(run), "test"); err != nil {
			t.Fatal(err)
		}
		s.waitIdle()
		for _, id := range []string{ok1, ok2} {
			tn := s.tenant(id)
			if tn.Status != domain.StatusConsented || !tn.RolesUnknown || tn.LastCheckOutcome != string(domain.CheckConsented) || tn.ConsecutiveCheckFailures != 0 {
				t.Errorf("run %d, tenant %s: %s rolesUnknown=%v outcome %q failures %d; want Consented, roles unknown",
					run, id, tn.Status, tn.RolesUnknown, tn.LastCheckOutcome, tn.ConsecutiveCheckFailures)
			}
			if len(tn.GrantedRoles) != len(domain.RequiredGraphRoles) {
				t.Errorf("run %d: last known roles lost: %v", run, tn.GrantedRoles)
			}
		}
		if tn := s.tenant(degraded); tn.Status != domain.StatusDegraded || !tn.RolesUnknown || len(tn.MissingRoles) != 1 {
			t.Errorf("run %d, degraded tenant: %s rolesUnknown=%v missing %v; want it left Degraded", run, tn.Status, tn.RolesUnknown, tn.MissingRoles)
		}
		if got := len(s.opsOnlyMails(before, "cannot read granted roles", "run-opaque-")); got != run {
			t.Errorf("after run %d: roles-unknown warnings = %d, want %d (one per run)", run, got, run)
		}
	}
	if got := s.opsOnlyMails(before, "", ok1, ok2, degraded, "run-opaque-"); len(got) != 2 {
		t.Errorf("ops alerts = %d, want only the 2 roles-unknown warnings", len(got))
	}
	for _, id := range []string{ok1, ok2, degraded} {
		if got := len(s.mailsTo(adminEmail(id), before)); got != 0 {
			t.Errorf("tenant %s: %d customer emails, want none", id, got)
		}
	}
}

// A manual re-check through the admin API classifies 7000229 like the
// scheduled run (Revoked, one customer email, no ops alert) and reports an
// unreadable token as roles unknown instead of failing.
func TestAdminRevalidateVerdicts(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "33333333-aaaa-4bbb-8ccc-444444444444", Name: "Otto Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	revalidate := func(id string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, s.host.URL()+"/api/admin/tenants/"+id+"/revalidate", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("revalidate %s: %d %v %v", id, resp.StatusCode, out, err)
		}
		return out
	}
	removed, opaque := newTenantID(), newTenantID()
	s.consentedTenant(removed)
	s.consentedTenant(opaque)
	s.sb.SetTenant(removed, entrasim.Scenario{MissingSPCode: 7000229})
	s.sb.RemoveServicePrincipal(removed, euAppID)
	s.sb.SetTenant(opaque, entrasim.Scenario{OpaqueTokens: true})
	before := lastSeq(s.sb)

	out := revalidate(removed)
	check, _ := out["check"].(map[string]any)
	if out["to"] != string(domain.StatusRevoked) || check["aadsts"] != float64(7000229) {
		t.Errorf("7000229 re-check: %v, want Revoked with aadsts 7000229", out)
	}
	out = revalidate(opaque)
	check, _ = out["check"].(map[string]any)
	if out["to"] != string(domain.StatusConsented) || check["rolesUnknown"] != true || out["error"] != nil {
		t.Errorf("opaque-token re-check: %v, want Consented with rolesUnknown", out)
	}
	s.waitIdle()
	if !s.tenant(opaque).RolesUnknown {
		t.Error("tenant record does not show roles unknown")
	}
	if got := kinds(s.mailsTo(adminEmail(removed), before)); got["revoked"] != 1 || len(got) != 1 {
		t.Errorf("customer emails = %v, want exactly one consent-revoked", got)
	}
	if got := s.opsOnlyMails(before, "", removed, opaque); len(got) != 0 {
		t.Errorf("ops alerts = %d (first %q), want none", len(got), got[0].Subject)
	}
}
