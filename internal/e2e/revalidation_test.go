package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// consentedTenant provisions a tenant and records verified consent.
func (s *stack) consentedTenant(id string) {
	s.t.Helper()
	state := s.startConsent(s.provisioned(id))
	s.sb.Consent(id, euAppID)
	resp, _ := s.callback(map[string][]string{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
	if resp.StatusCode != 200 || s.tenant(id).Status != domain.StatusConsented {
		s.t.Fatalf("consent: %d %s", resp.StatusCode, s.tenant(id).Status)
	}
	s.waitIdle()
}

func kinds(mails []entrasim.SentMail) map[string]int {
	out := map[string]int{}
	for _, m := range mails {
		switch {
		case strings.Contains(m.Subject, "removed") || strings.Contains(m.Subject, "revoked") || strings.Contains(strings.ToLower(m.Subject), "no longer"):
			out["revoked"]++
		case strings.Contains(strings.ToLower(m.Subject), "missing") || strings.Contains(strings.ToLower(m.Subject), "permission"):
			out["degraded"]++
		default:
			out["other"]++
		}
	}
	return out
}

// A tenant whose service principal is deleted becomes Revoked after one run,
// with exactly one consent-revoked email even when the batch is delivered
// twice.
func TestRevalidationRevokedOnceEvenIfBatchRedelivered(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.consentedTenant(id)
	s.sb.RemoveServicePrincipal(id, euAppID)
	before := lastSeq(s.sb)

	batch := testkit.JSON(t, domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-test", Batch: 0, TenantIDs: []string{id}})
	for i := range 2 { // the same batch delivered twice (distinct message IDs defeat duplicate detection)
		if _, err := s.host.Enqueue(queue.Revalidation, funchost.Message{MessageID: "redelivered-" + itoa(i), Body: batch}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIdle()
	if st := s.tenant(id).Status; st != domain.StatusRevoked {
		t.Fatalf("status = %s, want Revoked", st)
	}
	if got := kinds(s.mailsTo(adminEmail(id), before)); got["revoked"] != 1 || len(got) != 1 {
		t.Fatalf("customer emails = %v, want exactly one consent-revoked", got)
	}
	revalidated := 0
	for _, e := range s.audit(id) {
		if e.Action == "consent.revalidated" && e.ToState == domain.StatusRevoked {
			revalidated++
		}
	}
	if revalidated != 1 {
		t.Errorf("audited transitions = %d, want 1", revalidated)
	}
}

// Every request answered 503: no status changes, no customer email, and the
// ops alert only after the third consecutive run.
func TestRevalidationTransientFailuresAlertOnlyAfterThreeRuns(t *testing.T) {
	// Not parallel: it turns faults on for the shared sandbox's tenant only.
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.consentedTenant(id)
	s.sb.SetTenant(id, entrasim.Scenario{Faults: entrasim.Faults{Status503: true}})
	t.Cleanup(func() { s.sb.SetTenant(id, entrasim.Scenario{}) })
	before := lastSeq(s.sb)
	opsAlerts := func() int {
		n := 0
		for _, m := range s.mailsTo("ops@videosrv.net", before) {
			if strings.Contains(m.HTMLBody, id) {
				n++
			}
		}
		return n
	}
	for run := 1; run <= 3; run++ {
		runID := "run-transient-" + itoa(run)
		if _, err := s.app.Server.Revalidation.StartRun(context.Background(), runID, "test"); err != nil {
			t.Fatal(err)
		}
		s.waitIdle()
		tn := s.tenant(id)
		if tn.Status != domain.StatusConsented || tn.ConsecutiveCheckFailures != run {
			t.Fatalf("run %d: status %s failures %d", run, tn.Status, tn.ConsecutiveCheckFailures)
		}
		if got := len(s.mailsTo(adminEmail(id), before)); got != 0 {
			t.Fatalf("run %d: %d customer emails", run, got)
		}
		want := 0
		if run == 3 {
			want = 1
		}
		if got := opsAlerts(); got != want {
			t.Fatalf("run %d: ops alerts = %d, want %d", run, got, want)
		}
	}
}

// The timer fired twice for the same schedule occurrence publishes one set
// of batches.
func TestTimerFiredTwiceOneSetOfBatches(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{settings: map[string]string{"REVALIDATION_BATCH_SIZE": "2"}})
	for range 5 {
		s.consentedTenant(newTenantID())
	}
	deliveriesBefore := s.host.QueueStats(queue.Revalidation).Deliveries
	s.runFunction("RevalidateConsent", "")
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	got := s.host.QueueStats(queue.Revalidation).Deliveries - deliveriesBefore
	if got != 3 { // 5 tenants in batches of 2
		t.Fatalf("batches delivered = %d, want 3", got)
	}
	page, err := s.app.Store.ListRevalidationRuns(context.Background(), 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Tenants != 5 || page.Items[0].Batches != 3 || page.Items[0].Checked != 5 {
		t.Fatalf("runs = %+v, %v", page.Items, err)
	}
}

// Roles removed → Degraded (one email naming them); fixed → Consented again,
// audited, operations told.
func TestRevalidationDegradedThenRecovered(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.consentedTenant(id)
	before := lastSeq(s.sb)
	s.sb.SetRoles(id, euAppID, domain.RequiredGraphRoles[1:])
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-degrade", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	tn := s.tenant(id)
	if tn.Status != domain.StatusDegraded || len(tn.MissingRoles) != 1 || tn.MissingRoles[0] != domain.RequiredGraphRoles[0] {
		t.Fatalf("after removal: %s missing %v", tn.Status, tn.MissingRoles)
	}
	mails := s.mailsTo(adminEmail(id), before)
	if len(mails) != 1 || !strings.Contains(mails[0].HTMLBody, domain.RequiredGraphRoles[0]) {
		t.Fatalf("degraded emails = %d", len(mails))
	}
	before = lastSeq(s.sb)
	s.sb.SetRoles(id, euAppID, domain.RequiredGraphRoles)
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-recover", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	if st := s.tenant(id).Status; st != domain.StatusConsented {
		t.Fatalf("after fix: %s", st)
	}
	recovered := false
	for _, m := range s.mailsTo("ops@videosrv.net", before) {
		recovered = recovered || strings.Contains(m.Subject, "recovered") || strings.Contains(m.HTMLBody, "Consented again")
	}
	if !recovered {
		t.Error("operations not told about the recovery")
	}
	if got := len(s.mailsTo(adminEmail(id), before)); got != 0 {
		t.Errorf("customer emailed about the recovery (%d)", got)
	}
}
