package queue

import (
	"context"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// RequeueEmail publishes the job unchanged (its key stays the idempotency
// key) on the email queue under the given message ID, so it is not dropped
// as a duplicate of the original; SendEmail uses the key as the ID.
func TestRequeueEmailUsesItsOwnMessageID(t *testing.T) {
	rec := &Recorder{}
	o := Outbox{Publisher: rec}
	job := domain.LiveJob("7f0c3a4e-1b2d-4c5e-8f90-123456789abc", []string{"admin@contoso.example"})
	if err := o.SendEmail(context.Background(), job, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := o.RequeueEmail(context.Background(), job, "sweep:run-1"); err != nil {
		t.Fatal(err)
	}
	if err := o.RequeueEmail(context.Background(), job, "sweep:run-1"); err != nil {
		t.Fatal(err)
	}
	sent := rec.Sent(Email)
	if len(sent) != 2 || sent[0].Message.ID != job.IdempotencyKey || sent[1].Message.ID != "sweep:run-1" || sent[1].Message.Kind != string(domain.EmailLive) {
		t.Fatalf("sent = %+v", sent)
	}
	got, err := domain.DecodeEmailJob(sent[1].Message.Body)
	if err != nil || got.IdempotencyKey != job.IdempotencyKey || !sent[1].Message.ScheduledAt.IsZero() {
		t.Fatalf("re-queued job = %+v, %v", got, err)
	}
}
