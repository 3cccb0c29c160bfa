package outboxtest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
)

const tenantID = "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"

var admins = []string{"admin@contoso.example"}

func TestRecordsEmailsWithTheirMessageIDAndTime(t *testing.T) {
	ctx := context.Background()
	var o outboxtest.Outbox
	link := domain.ConsentLinkJob(tenantID, admins)
	live := domain.LiveJob(tenantID, admins)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := o.SendEmail(ctx, link, at); err != nil {
		t.Fatal(err)
	}
	if err := o.RequeueEmail(ctx, live, "sweep:1"); err != nil {
		t.Fatal(err)
	}

	sent := o.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d sent, want 2", len(sent))
	}
	if s := sent[0]; s.Job.IdempotencyKey != link.IdempotencyKey || s.MessageID != link.IdempotencyKey || !s.At.Equal(at) {
		t.Errorf("SendEmail recorded %+v; want the job under its key at %v", s, at)
	}
	if s := sent[1]; s.Job.IdempotencyKey != live.IdempotencyKey || s.MessageID != "sweep:1" || !s.At.IsZero() {
		t.Errorf("RequeueEmail recorded %+v; want the job under sweep:1, now", s)
	}
	if n := o.Count(""); n != 2 {
		t.Errorf("Count(\"\") = %d, want 2", n)
	}
	if jobs := o.Jobs("live:"); len(jobs) != 1 || jobs[0].Kind != domain.EmailLive {
		t.Errorf("Jobs(live:) = %+v", jobs)
	}
	if jobs := o.OfKind(domain.EmailConsentLink); len(jobs) != 1 || jobs[0].IdempotencyKey != link.IdempotencyKey {
		t.Errorf("OfKind(consent-link) = %+v", jobs)
	}
	if jobs := o.OfKind(domain.EmailOpsAlert); len(jobs) != 0 {
		t.Errorf("OfKind(ops-alert) = %+v, want none", jobs)
	}

	o.Reset()
	if n := o.Count(""); n != 0 {
		t.Errorf("%d jobs after Reset", n)
	}
}

// TestRejectsWhatTheEmailWorkerWould: a job its consumer cannot decode is
// the caller's error, and is not recorded.
func TestRejectsWhatTheEmailWorkerWould(t *testing.T) {
	ctx := context.Background()
	var o outboxtest.Outbox
	noRecipients := domain.LiveJob(tenantID, nil)
	if err := o.SendEmail(ctx, noRecipients, time.Time{}); err == nil || !strings.Contains(err.Error(), "recipients") {
		t.Errorf("a job without recipients: %v, want a recipients error", err)
	}
	badTenant := domain.LiveJob("not-a-guid", admins)
	if err := o.RequeueEmail(ctx, badTenant, "sweep:2"); err == nil || !strings.Contains(err.Error(), "tenantId") {
		t.Errorf("a job with a bad tenant ID: %v, want a tenantId error", err)
	}
	if n := o.Count(""); n != 0 {
		t.Errorf("%d rejected jobs recorded", n)
	}
}

func TestRecordsBatchesAsDecodedWithTheirTimes(t *testing.T) {
	ctx := context.Background()
	var o outboxtest.Outbox
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	batches := []domain.RevalidationBatch{
		{SchemaVersion: 1, RunID: "run-1", Batch: 0, TenantIDs: []string{strings.ToUpper(tenantID)}},
		{SchemaVersion: 1, RunID: "run-1", Batch: 1, TenantIDs: []string{tenantID}},
	}
	if err := o.ScheduleRevalidation(ctx, batches, func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }); err != nil {
		t.Fatal(err)
	}
	if err := o.ScheduleRevalidation(ctx, batches[1:], nil); err != nil {
		t.Fatal(err)
	}

	got := o.Scheduled()
	if len(got) != 3 {
		t.Fatalf("%d scheduled, want 3", len(got))
	}
	for i, want := range []time.Time{start, start.Add(time.Minute), {}} {
		if !got[i].At.Equal(want) {
			t.Errorf("batch %d at %v, want %v", i, got[i].At, want)
		}
	}
	if id := got[0].Batch.TenantIDs[0]; id != tenantID {
		t.Errorf("recorded tenant ID %q; want it as the consumer decodes it, %q", id, tenantID)
	}
	if batches[0].TenantIDs[0] != strings.ToUpper(tenantID) {
		t.Error("recording changed the caller's batch")
	}
	if b := o.Batches(); len(b) != 3 || b[1].RunID != "run-1" || b[1].Batch != 1 {
		t.Errorf("Batches() = %+v", b)
	}

	o.Reset()
	if n := len(o.Batches()); n != 0 {
		t.Errorf("%d batches after Reset", n)
	}
}

// TestRejectsWhatTheRevalidationWorkerWould: one bad batch fails the call
// and none of its batches is recorded.
func TestRejectsWhatTheRevalidationWorkerWould(t *testing.T) {
	var o outboxtest.Outbox
	batches := []domain.RevalidationBatch{
		{SchemaVersion: 1, RunID: "run-1", Batch: 0, TenantIDs: []string{tenantID}},
		{SchemaVersion: 1, RunID: "run-1", Batch: 1},
	}
	if err := o.ScheduleRevalidation(context.Background(), batches, nil); err == nil || !strings.Contains(err.Error(), "tenantIds") {
		t.Errorf("an empty batch: %v, want a tenantIds error", err)
	}
	if n := len(o.Scheduled()); n != 0 {
		t.Errorf("%d batches recorded from a rejected call", n)
	}
}

func TestErrFailsEveryCall(t *testing.T) {
	ctx := context.Background()
	down := errors.New("queue down")
	o := outboxtest.Outbox{Err: down}
	job := domain.LiveJob(tenantID, admins)
	batch := []domain.RevalidationBatch{{SchemaVersion: 1, RunID: "run-1", TenantIDs: []string{tenantID}}}
	for name, err := range map[string]error{
		"SendEmail":            o.SendEmail(ctx, job, time.Time{}),
		"RequeueEmail":         o.RequeueEmail(ctx, job, "sweep:3"),
		"ScheduleRevalidation": o.ScheduleRevalidation(ctx, batch, nil),
	} {
		if !errors.Is(err, down) {
			t.Errorf("%s: %v, want %v", name, err, down)
		}
	}
	if len(o.Sent()) != 0 || len(o.Scheduled()) != 0 {
		t.Errorf("a failing outbox recorded %d jobs and %d batches", len(o.Sent()), len(o.Scheduled()))
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	var o outboxtest.Outbox
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := o.SendEmail(ctx, domain.LiveJob(tenantID, admins), time.Time{}); err != nil {
				t.Error(err)
			}
			if err := o.ScheduleRevalidation(ctx, []domain.RevalidationBatch{{SchemaVersion: 1, RunID: "r", TenantIDs: []string{tenantID}}}, nil); err != nil {
				t.Error(err)
			}
			_, _ = o.Sent(), o.Scheduled()
		})
	}
	wg.Wait()
	if len(o.Sent()) != 8 || len(o.Batches()) != 8 {
		t.Errorf("%d jobs and %d batches, want 8 and 8", len(o.Sent()), len(o.Batches()))
	}
}
