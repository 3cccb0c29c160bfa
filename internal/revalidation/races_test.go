package revalidation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A check reads the tenant, asks Graph, then writes: an operator's suspend
// in between wins, for every outcome that would change the status.
func TestCheckRacingSuspendLeavesItSuspended(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		from    domain.Status
		pending bool
		check   domain.ConsentCheck
	}{
		{"revoked", domain.StatusConsented, false, domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not found"}},
		{"consented", domain.StatusDegraded, false, consented},
		{"pending-consented", domain.StatusProvisioned, true, consented},
		{"pending-last-recheck", domain.StatusProvisioned, true, lagging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var e *env
			var id string
			e = newEnv(t, func(string) (domain.ConsentCheck, error) {
				e.suspend(id)
				return tc.check, nil
			})
			since := time.Time{}
			if tc.pending {
				since = time.Now().UTC().Add(-time.Hour)
			}
			tn := e.tenant(tc.from, since)
			id = tn.TenantID
			o := CheckOptions{RunID: "manual", Actor: "operator:x"}
			if tc.pending {
				o.Recheck = &domain.Recheck{Since: since, Attempt: 3}
			}
			out, err := e.svc.CheckTenant(context.Background(), id, o)
			if err != nil {
				t.Fatal(err)
			}
			got := teststore.Tenant(t, e.store, id)
			if got.Status != domain.StatusSuspended || got.SuspendedFrom != tc.from || out.Transition {
				t.Fatalf("after the race: %s (from %s), transition=%v", got.Status, got.SuspendedFrom, out.Transition)
			}
			for _, kind := range []domain.EmailKind{domain.EmailConsentConfirmed, domain.EmailConsentRevoked, domain.EmailConsentDegraded} {
				if n := len(e.out.OfKind(kind)); n != 0 {
					t.Errorf("%d %s emails for a suspended tenant", n, kind)
				}
			}
		})
	}
}

// The re-check chain: while the grant is not visible, each re-check keeps
// the tenant pending and schedules the next with a doubled delay; a stale
// chain schedules nothing; the last re-check alerts operations naming the
// missing roles and records Degraded, without a customer email.
func TestRecheckChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(string) (domain.ConsentCheck, error) { return lagging, nil })
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	tn := e.tenant(domain.StatusProvisioned, since)

	before := time.Now()
	e.handle(domain.RecheckBatch(tn.TenantID, since, 1))
	msgs := e.out.Scheduled()
	if len(msgs) != 1 {
		t.Fatalf("after re-check 1: %d scheduled, want 1", len(msgs))
	}
	if d := msgs[0].At.Sub(before); d < 2*time.Minute-time.Second || d > 2*time.Minute+5*time.Second {
		t.Errorf("re-check 2 scheduled in %s, want 2m", d)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusProvisioned || !got.VerificationPending || got.LastCheckOutcome != "pending" {
		t.Fatalf("after re-check 1: %s pending=%v outcome %s", got.Status, got.VerificationPending, got.LastCheckOutcome)
	}
	// A re-check of an earlier pending verification starts no second chain.
	e.handle(domain.RecheckBatch(tn.TenantID, since.Add(-time.Hour), 1))
	if n := len(e.out.Scheduled()); n != 1 {
		t.Errorf("a stale re-check scheduled another: %d", n)
	}

	e.handle(domain.RecheckBatch(tn.TenantID, since, 3))
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusDegraded || got.VerificationPending || len(got.MissingRoles) != 2 {
		t.Fatalf("after the last re-check: %s pending=%v missing %v", got.Status, got.VerificationPending, got.MissingRoles)
	}
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Alert.Detail, domain.RequiredGraphRoles[6]) || !strings.Contains(alerts[0].Alert.Detail, domain.RequiredGraphRoles[7]) {
		t.Fatalf("ops alerts = %+v", alerts)
	}
	if n := len(e.out.OfKind(domain.EmailConsentDegraded)); n != 0 {
		t.Errorf("the customer was asked to consent again (%d degraded emails)", n)
	}
	if n := len(e.out.Scheduled()); n != 1 {
		t.Errorf("the last re-check scheduled another: %d", n)
	}
}

// A re-check that finds the grant makes the tenant Consented and queues the
// promised consent-confirmed email once, however often it is delivered.
func TestRecheckFindsGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(string) (domain.ConsentCheck, error) { return consented, nil })
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	tn := e.tenant(domain.StatusProvisioned, since)
	e.handle(domain.RecheckBatch(tn.TenantID, since, 2))
	e.handle(domain.RecheckBatch(tn.TenantID, since, 2)) // redelivered
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusConsented || got.VerificationPending || got.ConsentedAt.IsZero() {
		t.Fatalf("after the re-check: %s pending=%v", got.Status, got.VerificationPending)
	}
	confirmed := e.out.OfKind(domain.EmailConsentConfirmed)
	if len(confirmed) != 1 {
		t.Fatalf("consent-confirmed emails = %d, want 1", len(confirmed))
	}
	if n := len(e.out.Scheduled()); n != 0 {
		t.Errorf("%d re-checks scheduled after the grant was found", n)
	}
}

// A redelivered batch whose first delivery made a transition queues the
// customer email again under the same key (so a delivery that stopped
// between the write and the email still sends it, and once).
func TestRedeliveredTransitionNotifiesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(string) (domain.ConsentCheck, error) {
		return domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not found"}, nil
	})
	tn := e.tenant(domain.StatusConsented, time.Time{})
	b := domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-1", TenantIDs: []string{tn.TenantID}}
	e.handle(b)
	e.handle(b)
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusRevoked {
		t.Fatalf("status = %s", got.Status)
	}
	revoked := e.out.OfKind(domain.EmailConsentRevoked)
	if len(revoked) != 2 || revoked[0].IdempotencyKey != revoked[1].IdempotencyKey {
		t.Fatalf("revoked emails = %+v, want the same key twice", revoked)
	}
	// Another run finds nothing new to say.
	e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-2", TenantIDs: []string{tn.TenantID}})
	if n := len(e.out.OfKind(domain.EmailConsentRevoked)); n != 2 {
		t.Errorf("a later run queued another revoked email: %d", n)
	}
}
