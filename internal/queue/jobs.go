package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// PublishEmail enqueues an email job with its idempotency key as message ID,
// so a re-publish inside the duplicate-detection window is dropped.
func PublishEmail(ctx context.Context, p Publisher, job domain.EmailJob, at time.Time) error {
	return publishEmail(ctx, p, job, job.IdempotencyKey, at)
}

func publishEmail(ctx context.Context, p Publisher, job domain.EmailJob, messageID string, at time.Time) error {
	body, err := json.Marshal(job)
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "encode %s email job", job.Kind)
	}
	if err := p.Publish(ctx, Email, Message{ID: messageID, Kind: string(job.Kind), Body: body, ScheduledAt: at}); err != nil {
		return fmt.Errorf("enqueue %s email for tenant %s: %w", job.Kind, job.TenantID, err)
	}
	return nil
}

// PublishRevalidation enqueues revalidation batches; the message ID is the
// run ID and batch number, so a re-run of the same tick adds nothing.
func PublishRevalidation(ctx context.Context, p Publisher, batches []domain.RevalidationBatch, at func(i int) time.Time) error {
	msgs := make([]Message, len(batches))
	for i, b := range batches {
		body, err := json.Marshal(b)
		if err != nil {
			return domain.Wrap(domain.CodeInternal, err, "encode revalidation batch %d", b.Batch)
		}
		msgs[i] = Message{ID: fmt.Sprintf("%s:%d", b.RunID, b.Batch), Kind: "revalidation", Body: body}
		if at != nil {
			msgs[i].ScheduledAt = at(i)
		}
	}
	if err := p.Publish(ctx, Revalidation, msgs...); err != nil {
		return fmt.Errorf("enqueue %d revalidation batch(es): %w", len(batches), err)
	}
	return nil
}

// Outbox is the Service Bus (or local host) side of domain.Outbox.
type Outbox struct{ Publisher Publisher }

var (
	_ domain.Outbox        = Outbox{}
	_ domain.EmailRequeuer = Outbox{}
)

// SendEmail implements domain.Outbox.
func (o Outbox) SendEmail(ctx context.Context, job domain.EmailJob, at time.Time) error {
	return PublishEmail(ctx, o.Publisher, job, at)
}

// ScheduleRevalidation implements domain.Outbox.
func (o Outbox) ScheduleRevalidation(ctx context.Context, batches []domain.RevalidationBatch, at func(i int) time.Time) error {
	return PublishRevalidation(ctx, o.Publisher, batches, at)
}

// RequeueEmail implements domain.EmailRequeuer: the job now, under messageID.
func (o Outbox) RequeueEmail(ctx context.Context, job domain.EmailJob, messageID string) error {
	return publishEmail(ctx, o.Publisher, job, messageID, time.Time{})
}
