// Package outboxtest is a recording domain.Outbox for the services' tests:
// it keeps every job and batch it is handed, in order, so a test asserts
// what a flow published without a queue.
package outboxtest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Sent is one SendEmail call.
type Sent struct {
	Job domain.EmailJob
	At  time.Time
}

// Outbox records every call (a re-publish under the same key is recorded
// again: the tests count them; the queue's duplicate detection is not
// modelled). Safe for concurrent use.
type Outbox struct {
	mu      sync.Mutex
	sent    []Sent
	batches []domain.RevalidationBatch
	// Err, when set, fails every call (nothing is recorded).
	Err error
}

var _ domain.Outbox = (*Outbox)(nil)

// SendEmail implements domain.Outbox.
func (o *Outbox) SendEmail(_ context.Context, job domain.EmailJob, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Err != nil {
		return o.Err
	}
	o.sent = append(o.sent, Sent{Job: job, At: at})
	return nil
}

// ScheduleRevalidation implements domain.Outbox.
func (o *Outbox) ScheduleRevalidation(_ context.Context, batches []domain.RevalidationBatch, _ func(int) time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Err != nil {
		return o.Err
	}
	o.batches = append(o.batches, batches...)
	return nil
}

// Sent is every SendEmail call so far, in order.
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

// Batches is every re-validation batch scheduled so far.
func (o *Outbox) Batches() []domain.RevalidationBatch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]domain.RevalidationBatch(nil), o.batches...)
}

// Reset forgets what was recorded.
func (o *Outbox) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent, o.batches = nil, nil
}
