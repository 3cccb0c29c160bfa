package revalidation

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A transition is written, audited and told to the customer and operations
// under the transition's key; the same answer again changes nothing.
func TestCheckTenantTransitionNotifiesByTransitionKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(revoked))
	tn := e.tenant(domain.StatusConsented, time.Time{}, func(t *domain.Tenant) {
		t.Contacts = append(t.Contacts, domain.Contact{Email: "tech@contoso.example", Role: domain.RoleTechnical})
	})
	out, err := e.svc.CheckTenant(context.Background(), tn.TenantID, CheckOptions{Actor: "operator:o1", ActorName: "Olivia"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Transition || out.From != domain.StatusConsented || out.To != domain.StatusRevoked || out.Check == nil {
		t.Fatalf("outcome = %+v", out)
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusRevoked || got.StatusReason != "app not found" || got.LastCheckOutcome != string(domain.CheckRevoked) {
		t.Fatalf("tenant = %s (%q), last check %s", got.Status, got.StatusReason, got.LastCheckOutcome)
	}
	jobs := e.out.OfKind(domain.EmailConsentRevoked)
	wantKey := "consent-revoked:->Revoked:" + tn.TenantID + ":" + strconv.FormatInt(got.StatusChanged.UnixNano(), 10)
	if len(jobs) != 1 || jobs[0].IdempotencyKey != wantKey || jobs[0].Alert == nil || jobs[0].Alert.Detail != "app not found" {
		t.Fatalf("revoked emails = %+v, want key %s", jobs, wantKey)
	}
	if r := jobs[0].Recipients; len(r) != 3 || r[0] != "admin@contoso.example" || r[1] != "tech@contoso.example" || r[2] != "ops@example.net" {
		t.Errorf("recipients = %v, want the contacts then operations", r)
	}
	audit := teststore.AuditActions(t, e.store, tn.TenantID)["consent.revalidated"]
	if len(audit) != 1 || audit[0].Actor != "operator:o1" || audit[0].ActorName != "Olivia" || audit[0].FromState != domain.StatusConsented ||
		audit[0].ToState != domain.StatusRevoked || audit[0].Details["outcome"] != "revoked" {
		t.Fatalf("audit = %+v", audit)
	}

	again, err := e.svc.CheckTenant(context.Background(), tn.TenantID, CheckOptions{Actor: "operator:o1"})
	if err != nil || again.Transition {
		t.Fatalf("second check = %+v, %v", again, err)
	}
	if n := len(e.out.Sent()); n != 1 {
		t.Errorf("%d emails after the second check, want 1", n)
	}
}

// Recovering to Consented alerts operations (not the customer); the first
// consent of a pending verification sends the promised confirmation.
func TestCheckTenantRecoveryAndPendingConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(consented))
	deg := e.tenant(domain.StatusDegraded, time.Time{}, func(t *domain.Tenant) { t.MissingRoles = domain.RequiredGraphRoles[:1] })
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	pending := e.tenant(domain.StatusProvisioned, since)
	for _, id := range []string{deg.TenantID, pending.TenantID} {
		if out, err := e.svc.CheckTenant(context.Background(), id, CheckOptions{Actor: "system:revalidation"}); err != nil || !out.Transition {
			t.Fatalf("check %s = %+v, %v", id, out, err)
		}
	}
	recovered := teststore.Tenant(t, e.store, deg.TenantID)
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	wantKey := "ops-alert:recovered:->Consented:" + deg.TenantID + ":" + strconv.FormatInt(recovered.StatusChanged.UnixNano(), 10)
	if len(alerts) != 1 || alerts[0].IdempotencyKey != wantKey || alerts[0].Recipients[0] != "ops@example.net" {
		t.Fatalf("ops alerts = %+v, want one keyed %s", alerts, wantKey)
	}
	confirmed := e.out.OfKind(domain.EmailConsentConfirmed)
	wantKey = "consent-confirmed:" + pending.TenantID + ":pending:" + strconv.FormatInt(since.Unix(), 10)
	if len(confirmed) != 1 || confirmed[0].IdempotencyKey != wantKey || confirmed[0].TenantID != pending.TenantID {
		t.Fatalf("confirmations = %+v, want one keyed %s", confirmed, wantKey)
	}
	if got := teststore.Tenant(t, e.store, pending.TenantID); got.Status != domain.StatusConsented || got.VerificationPending || got.ConsentedAt.IsZero() {
		t.Errorf("pending tenant = %s pending=%v consentedAt %v", got.Status, got.VerificationPending, got.ConsentedAt)
	}
	if n := len(e.out.OfKind(domain.EmailConsentDegraded)) + len(e.out.OfKind(domain.EmailConsentRevoked)); n != 0 {
		t.Errorf("%d customer transition emails for recoveries", n)
	}
}

// Suspended and offboarded tenants are not checked, and an unknown tenant is
// a skip, not an error.
func TestCheckTenantSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(revoked))
	for _, st := range []domain.Status{domain.StatusSuspended, domain.StatusOffboarded} {
		tn := e.tenant(st, time.Time{})
		out, err := e.svc.CheckTenant(context.Background(), tn.TenantID, CheckOptions{})
		if err != nil || !out.Skipped || out.SkipReason != "tenant is "+string(st) {
			t.Errorf("%s: %+v, %v", st, out, err)
		}
	}
	out, err := e.svc.CheckTenant(context.Background(), "00000000-0000-4000-8000-000000000002", CheckOptions{})
	if err != nil || !out.Skipped || out.SkipReason != "tenant not found" {
		t.Errorf("unknown tenant: %+v, %v", out, err)
	}
	if n := e.chk.count(); n != 0 {
		t.Errorf("%d checks of skipped tenants", n)
	}
}

// The tenant's own tenant gone is definitive only on the second check in a
// row; the first records the outcome and changes nothing.
func TestTenantGoneRevokesOnTheSecondCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(domain.ConsentCheck{Outcome: domain.CheckTenantGone, Detail: "tenant not found"}))
	tn := e.tenant(domain.StatusConsented, time.Time{})
	first, err := e.svc.CheckTenant(context.Background(), tn.TenantID, CheckOptions{})
	if err != nil || first.Transition {
		t.Fatalf("first check = %+v, %v", first, err)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusConsented || got.LastCheckOutcome != string(domain.CheckTenantGone) {
		t.Fatalf("after one tenant-gone: %s, last %s", got.Status, got.LastCheckOutcome)
	}
	second, err := e.svc.CheckTenant(context.Background(), tn.TenantID, CheckOptions{})
	if err != nil || !second.Transition || second.To != domain.StatusRevoked {
		t.Fatalf("second check = %+v, %v", second, err)
	}
}
