package revalidation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A batch checks each tenant once, counts what happened (a missing or
// suspended tenant is skipped) and adds the counts to its run.
func TestHandleBatchCountsAndAddsToTheRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	stays := e.tenant(domain.StatusConsented, time.Time{})
	revokes := e.tenant(domain.StatusConsented, time.Time{})
	fails := e.tenant(domain.StatusConsented, time.Time{})
	suspended := e.tenant(domain.StatusSuspended, time.Time{})
	e.chk.check = func(id string) (domain.ConsentCheck, error) {
		switch id {
		case revokes.TenantID:
			return revoked, nil
		case fails.TenantID:
			return domain.ConsentCheck{}, domain.Errorf(domain.CodeUnavailable, "throttled")
		}
		return consented, nil
	}
	run := &domain.RevalidationRun{RunID: "run-batch", StartedAt: time.Now().UTC()}
	if err := e.store.CreateRevalidationRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	res := e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: run.RunID,
		TenantIDs: []string{stays.TenantID, revokes.TenantID, fails.TenantID, suspended.TenantID, "00000000-0000-4000-8000-000000000001"}})
	if want := (BatchResult{Checked: 3, Transitions: 1, TransientFailures: 1, Skipped: 2}); res != want {
		t.Fatalf("batch result = %+v, want %+v", res, want)
	}
	if n := e.chk.count(); n != 3 {
		t.Errorf("%d checks, want 3 (skipped tenants are not checked)", n)
	}
	got, err := e.store.GetRevalidationRun(context.Background(), run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Checked != 3 || got.Transitions != 1 || got.Failures != 1 {
		t.Errorf("run counters = checked %d transitions %d failures %d", got.Checked, got.Transitions, got.Failures)
	}
	if s := teststore.Tenant(t, e.store, revokes.TenantID); s.Status != domain.StatusRevoked || s.LastCheckRunID != run.RunID {
		t.Errorf("revoked tenant = %s (run %q)", s.Status, s.LastCheckRunID)
	}
	if s := teststore.Tenant(t, e.store, suspended.TenantID); s.Status != domain.StatusSuspended || !s.LastCheckAt.IsZero() {
		t.Errorf("suspended tenant was touched: %s, checked at %v", s.Status, s.LastCheckAt)
	}
}

// A batch that can never be decoded is recorded as a rejection and
// operations alerted, once however often it is redelivered; the delivery
// succeeds (no endless retry).
func TestMalformedBatchIsRejectedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(consented))
	body := []byte(`{"schemaVersion":1,"runId":"","tenantIds":[]}`)
	for range 2 {
		res, err := e.svc.HandleBatch(context.Background(), body)
		if err != nil || res != (BatchResult{}) {
			t.Fatalf("malformed batch: %+v, %v", res, err)
		}
	}
	page, err := e.store.ListRejections(context.Background(), 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Source != "queue:revalidation" || page.Items[0].Field == "" {
		t.Fatalf("rejections = %+v", page.Items)
	}
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	if len(alerts) != 2 || alerts[0].IdempotencyKey != alerts[1].IdempotencyKey ||
		!strings.HasPrefix(alerts[0].IdempotencyKey, domain.RejectionAlertKeyPrefix) {
		t.Fatalf("rejection alerts = %+v, want one key twice", alerts)
	}
	if n := e.chk.count(); n != 0 {
		t.Errorf("%d checks for a malformed batch", n)
	}
}
