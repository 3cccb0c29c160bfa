package queue

import (
	"context"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// EventTopic is the Service Bus (or local host) side of
// domain.EventPublisher: lifecycle events go to one topic.
type EventTopic struct {
	Publisher TopicPublisher
	Topic     string // default TenantEvents
}

var _ domain.EventPublisher = EventTopic{}

// PublishEvent implements domain.EventPublisher.
func (e EventTopic) PublishEvent(ctx context.Context, m domain.EventMessage) error {
	topic := e.Topic
	if topic == "" {
		topic = TenantEvents
	}
	return e.Publisher.PublishTopic(ctx, topic, m)
}
