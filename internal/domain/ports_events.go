package domain

import "context"

// EventMessage is one lifecycle event as the relay hands it to the topic:
// the structured-mode CloudEvent as Body, ID = event id (the topic's
// duplicate detection drops a resend inside its window).
type EventMessage struct {
	ID            string
	Subject       string
	CorrelationID string
	// SessionID groups a tenant's events so a session-aware subscription
	// hands them to one receiver in order.
	SessionID   string
	ContentType string
	Body        []byte
}

// EventPublisher is the port the events relay publishes through;
// internal/queue implements it on the tenant-events topic. Errors are
// *Error values: CodeUnavailable when retrying later may help.
type EventPublisher interface {
	PublishEvent(ctx context.Context, m EventMessage) error
}
