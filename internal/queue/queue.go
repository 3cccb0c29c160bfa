// Package queue publishes the messages the handler itself produces (email
// jobs, revalidation batches, delayed reminders): to Service Bus with
// azservicebus in Azure, to the local dev host's in-process queues locally.
package queue

import (
	"context"
	"time"
)

// Queue names (function.json queueName values and the Bicep queues).
const (
	Provisioning = "provisioning"
	Email        = "email"
	Revalidation = "revalidation"
)

// Message is one message to publish.
type Message struct {
	// ID is the idempotency key: Service Bus duplicate detection drops a
	// second message with the same ID inside its window.
	ID string
	// Kind goes into the application property "kind".
	Kind        string
	Body        []byte
	ContentType string // default application/json
	// ScheduledAt, when set, delays delivery (Service Bus scheduled enqueue).
	ScheduledAt time.Time
}

// Publisher sends messages to a queue. Errors are *domain.Error values:
// CodeUnavailable when retrying later may help.
type Publisher interface {
	Publish(ctx context.Context, queue string, msgs ...Message) error
	Close(ctx context.Context) error
}

func contentType(m Message) string {
	if m.ContentType == "" {
		return "application/json"
	}
	return m.ContentType
}
