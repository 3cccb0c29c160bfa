package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// TenantEvents is the topic lifecycle events go to (Bicep: the topic and its
// "crm" subscription).
const TenantEvents = "tenant-events"

// TopicMessage is one message for a topic: the shape the domain's event
// port hands over (ID is the message ID the topic de-duplicates on).
type TopicMessage = domain.EventMessage

// TopicPublisher sends to a topic. Errors are *domain.Error values:
// CodeUnavailable when retrying later may help.
type TopicPublisher interface {
	PublishTopic(ctx context.Context, topic string, m TopicMessage) error
}

var (
	_ TopicPublisher = (*Local)(nil)
	_ TopicPublisher = (*ServiceBus)(nil)
)

// PublishTopic posts to the dev host's topic (POST {base}/admin/topics/{topic}/messages),
// which fans it out to every subscription with duplicate detection.
func (l *Local) PublishTopic(ctx context.Context, topic string, m TopicMessage) error {
	lm := struct {
		localMessage
		CorrelationID string `json:"correlationId,omitempty"`
		SessionID     string `json:"sessionId,omitempty"`
	}{localMessage: localMessage{MessageID: m.ID, Body: string(m.Body), ContentType: topicContentType(m), Subject: m.Subject},
		CorrelationID: m.CorrelationID, SessionID: m.SessionID}
	body, err := json.Marshal(lm)
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "encode message for topic %s", topic)
	}
	u := l.base + "/admin/topics/" + url.PathEscape(topic) + "/messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "build request to %s", u)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return domain.Wrap(domain.CodeUnavailable, err, "send message %s to local topic %s", m.ID, topic)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusNotFound:
		// 404: the topic is not created yet (devstack creates it).
		return domain.Wrap(domain.CodeUnavailable, fmt.Errorf("status %d: %s", resp.StatusCode, detail), "send to local topic %s", topic)
	default:
		return domain.Wrap(domain.CodeInternal, fmt.Errorf("status %d: %s", resp.StatusCode, detail), "send to local topic %s", topic)
	}
}

// PublishTopic sends one message to the Service Bus topic.
func (sb *ServiceBus) PublishTopic(ctx context.Context, topic string, m TopicMessage) error {
	s, err := sb.senderFor(topic)
	if err != nil {
		return err
	}
	if err := s.SendMessage(ctx, toServiceBusTopic(m), nil); err != nil {
		return classify(err, "send message %s to topic %s", m.ID, topic)
	}
	return nil
}

func toServiceBusTopic(m TopicMessage) *azservicebus.Message {
	ct, id := topicContentType(m), m.ID
	msg := &azservicebus.Message{Body: m.Body, ContentType: &ct, MessageID: &id}
	if m.Subject != "" {
		s := m.Subject
		msg.Subject = &s
	}
	if m.CorrelationID != "" {
		c := m.CorrelationID
		msg.CorrelationID = &c
	}
	if m.SessionID != "" {
		s := m.SessionID
		msg.SessionID = &s
	}
	return msg
}

func topicContentType(m TopicMessage) string {
	if m.ContentType == "" {
		return "application/json"
	}
	return m.ContentType
}
