package revalidation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A run checks the tenants that have a consent to re-validate, in batches of
// BatchSize spread BatchInterval apart (the first at once); Suspended and
// Offboarded tenants, and Provisioned ones never consented, are left out. A
// second start of the same run adds nothing.
func TestStartRunFansOutBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(consented))
	e.svc.BatchSize, e.svc.BatchInterval = 2, time.Minute
	var want []string
	for _, st := range []domain.Status{domain.StatusConsented, domain.StatusDegraded, domain.StatusRevoked, domain.StatusConsented} {
		want = append(want, e.tenant(st, time.Time{}).TenantID)
	}
	want = append(want, e.tenant(domain.StatusProvisioned, time.Now().UTC()).TenantID) // pending verification
	e.tenant(domain.StatusProvisioned, time.Time{})
	e.tenant(domain.StatusSuspended, time.Time{})
	e.tenant(domain.StatusOffboarded, time.Time{})

	run, err := e.svc.StartRun(context.Background(), "run-20260101T000000Z", "timer")
	if err != nil {
		t.Fatal(err)
	}
	if run.Tenants != len(want) || run.Batches != 3 || run.FinishedAt.IsZero() {
		t.Fatalf("run = %+v, want %d tenants in 3 batches", run, len(want))
	}
	batches := e.out.Scheduled()
	if len(batches) != 3 {
		t.Fatalf("%d batches scheduled, want 3", len(batches))
	}
	var got []string
	for i, b := range batches {
		if b.Batch.RunID != run.RunID || b.Batch.Batch != i || len(b.Batch.TenantIDs) > 2 {
			t.Errorf("batch %d = %+v", i, b.Batch)
		}
		wantAt := time.Time{}
		if i > 0 {
			wantAt = run.StartedAt.Add(time.Duration(i) * time.Minute)
		}
		if !b.At.Equal(wantAt) {
			t.Errorf("batch %d due at %v, want %v", i, b.At, wantAt)
		}
		got = append(got, b.Batch.TenantIDs...)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("checked tenants = %v, want %v", got, want)
	}

	again, err := e.svc.StartRun(context.Background(), "run-20260101T000000Z", "timer")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.out.Scheduled()); n != 3 || again.Batches != 3 {
		t.Errorf("a second start of the run: %d batches in all, run %+v", n, again)
	}
}
