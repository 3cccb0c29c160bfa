// Package queue publishes the messages the handler itself produces (email
// jobs, revalidation batches, delayed reminders): to Service Bus with
// azservicebus in Azure, to the local dev host's in-process queues locally.
package queue

import (
	"context"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Queue names (function.json queueName values and the Bicep queues).
const (
	Provisioning = domain.QueueProvisioning
	Email        = domain.QueueEmail
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
	// ApplicationProperties are sent as Service Bus application properties
	// (strings, numbers, booleans only); "kind" is set from Kind.
	ApplicationProperties map[string]any
}

// Publisher sends messages to a queue. Errors are *domain.Error values:
// CodeUnavailable when retrying later may help.
type Publisher interface {
	Publish(ctx context.Context, queue string, msgs ...Message) error
	Close(ctx context.Context) error
}

// properties merges Kind into the message's application properties; nil
// when there are none.
func properties(m Message) map[string]any {
	if m.Kind == "" && len(m.ApplicationProperties) == 0 {
		return nil
	}
	props := make(map[string]any, len(m.ApplicationProperties)+1)
	for k, v := range m.ApplicationProperties {
		props[k] = v
	}
	if m.Kind != "" {
		props[PropKind] = m.Kind
	}
	return props
}

func contentType(m Message) string {
	if m.ContentType == "" {
		return "application/json"
	}
	return m.ContentType
}
