package domain

import (
	"context"
	"slices"
	"time"
)

// DeadLetter is one message in a queue's dead-letter sub-queue.
type DeadLetter struct {
	Queue                 string
	SequenceNumber        int64
	MessageID             string
	Subject               string
	ContentType           string
	EnqueuedAt            time.Time
	DeliveryCount         int
	Reason                string
	Description           string
	ApplicationProperties map[string]any
	Body                  []byte
	// OriginalMessageID is the "originalMessageId" property when it is a
	// non-empty string (a retry or resubmitted copy), else "".
	OriginalMessageID string
	// TenantID is the body's top-level tenantId when it is a valid GUID,
	// else "".
	TenantID string
}

// Resubmitted reports one dead letter sent again.
type Resubmitted struct {
	SequenceNumber    int64
	DeadLetterID      string // the dead letter's own message ID
	OriginalMessageID string
	MessageID         string // the new message's ID
	TenantID          string // from the body, "" if it names none
}

// DeadLetterSelection picks dead letters: every one, or the listed
// sequence numbers.
type DeadLetterSelection struct {
	All             bool
	SequenceNumbers []int64
}

// Has reports whether the selection picks the dead letter numbered seq.
func (s DeadLetterSelection) Has(seq int64) bool {
	return s.All || slices.Contains(s.SequenceNumbers, seq)
}

// DeadLetterQueues are the queues whose dead letters are worth replaying
// (internal/queue pins them to its queue names).
func DeadLetterQueues() []string { return []string{"provisioning", "email", "revalidation"} }

// DeadLetters is the port to the queues' dead-letter sub-queues; the queue
// adapters (Service Bus, the local host, the test recorder) implement it.
// Inside a queue's duplicate-detection window Service Bus silently drops a
// message whose ID it has seen, so a dead letter is never sent again under
// its own ID: the copy gets a new one and carries the original's in
// "originalMessageId". Effect-once comes from the message body (requestId,
// idempotencyKey).
type DeadLetters interface {
	// ListDeadLetters returns up to max dead letters, oldest first.
	ListDeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error)
	// ResubmitDeadLetters sends each selected dead letter to its queue as
	// a new message and only then removes the dead letter. by names the
	// operator (a property of the copy). It returns what it resubmitted,
	// the selected sequence numbers it did not find, and the first error
	// (the rest stays in the dead-letter queue).
	ResubmitDeadLetters(ctx context.Context, queue string, sel DeadLetterSelection, by string) (done []Resubmitted, missing []int64, err error)
}
