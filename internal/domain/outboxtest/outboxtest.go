// Package outboxtest is a recording domain.Outbox (and domain.EmailRequeuer)
// for the services' tests: it keeps every job and batch it is handed, in
// order, so a test asserts what a flow published without a queue. Each job
// and batch is encoded and decoded as the queue functions will, so a flow
// that builds a message its consumer would reject fails here.
package outboxtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Sent is one SendEmail or RequeueEmail call.
type Sent struct {
	Job domain.EmailJob
	// MessageID is the job's IdempotencyKey for SendEmail, the given ID for
	// RequeueEmail.
	MessageID string
	// At is the delivery time asked for (zero: now; always zero for
	// RequeueEmail).
	At time.Time
}

// Scheduled is one re-validation batch, as its consumer decodes it.
type Scheduled struct {
	Batch domain.RevalidationBatch
	// At is the batch's delivery time (zero when no schedule was given).
	At time.Time
}

// Outbox records every call (a re-publish under the same key is recorded
// again: the tests count them; the queue's duplicate detection is not
// modelled). Safe for concurrent use; the zero value is ready.
type Outbox struct {
	mu        sync.Mutex
	sent      []Sent
	scheduled []Scheduled
	// Err, when set, fails every call (nothing is recorded).
	Err error
}

var (
	_ domain.Outbox        = (*Outbox)(nil)
	_ domain.EmailRequeuer = (*Outbox)(nil)
)

// SendEmail implements domain.Outbox.
func (o *Outbox) SendEmail(_ context.Context, job domain.EmailJob, at time.Time) error {
	return o.record(job, job.IdempotencyKey, at)
}

// RequeueEmail implements domain.EmailRequeuer.
func (o *Outbox) RequeueEmail(_ context.Context, job domain.EmailJob, messageID string) error {
	return o.record(job, messageID, time.Time{})
}

func (o *Outbox) record(job domain.EmailJob, messageID string, at time.Time) error {
	if o.Err != nil {
		return o.Err
	}
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode %s email job: %w", job.Kind, err)
	}
	if _, err := domain.DecodeEmailJob(body); err != nil {
		return fmt.Errorf("the email worker would reject %s job %q: %w", job.Kind, job.IdempotencyKey, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, Sent{Job: job, MessageID: messageID, At: at})
	return nil
}

// ScheduleRevalidation implements domain.Outbox. A batch that does not
// decode fails the whole call, and none of its batches is recorded.
func (o *Outbox) ScheduleRevalidation(_ context.Context, batches []domain.RevalidationBatch, at func(int) time.Time) error {
	if o.Err != nil {
		return o.Err
	}
	out := make([]Scheduled, 0, len(batches))
	for i, b := range batches {
		body, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("encode revalidation batch %d: %w", b.Batch, err)
		}
		decoded, err := domain.DecodeRevalidationBatch(body)
		if err != nil {
			return fmt.Errorf("the revalidation worker would reject batch %d of run %q: %w", b.Batch, b.RunID, err)
		}
		s := Scheduled{Batch: *decoded}
		if at != nil {
			s.At = at(i)
		}
		out = append(out, s)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.scheduled = append(o.scheduled, out...)
	return nil
}

// Sent is every SendEmail and RequeueEmail call so far, in order.
func (o *Outbox) Sent() []Sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Sent(nil), o.sent...)
}

// Jobs is every job sent so far whose key starts with prefix ("" = all).
func (o *Outbox) Jobs(prefix string) []domain.EmailJob {
	var out []domain.EmailJob
	for _, s := range o.Sent() {
		if strings.HasPrefix(s.Job.IdempotencyKey, prefix) {
			out = append(out, s.Job)
		}
	}
	return out
}

// Count is len(Jobs(prefix)).
func (o *Outbox) Count(prefix string) int { return len(o.Jobs(prefix)) }

// OfKind is every job of kind sent so far.
func (o *Outbox) OfKind(kind domain.EmailKind) []domain.EmailJob {
	var out []domain.EmailJob
	for _, s := range o.Sent() {
		if s.Job.Kind == kind {
			out = append(out, s.Job)
		}
	}
	return out
}

// Scheduled is every re-validation batch scheduled so far, with its
// delivery time.
func (o *Outbox) Scheduled() []Scheduled {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Scheduled(nil), o.scheduled...)
}

// Batches is every re-validation batch scheduled so far.
func (o *Outbox) Batches() []domain.RevalidationBatch {
	var out []domain.RevalidationBatch
	for _, s := range o.Scheduled() {
		out = append(out, s.Batch)
	}
	return out
}

// Reset forgets what was recorded.
func (o *Outbox) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent, o.scheduled = nil, nil
}
