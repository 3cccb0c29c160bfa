package queue

import (
	"context"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

type topicRecorder struct {
	topic string
	msg   TopicMessage
}

func (r *topicRecorder) PublishTopic(_ context.Context, topic string, m TopicMessage) error {
	r.topic, r.msg = topic, m
	return nil
}

// EventTopic hands the relay's message to the topic unchanged, on
// tenant-events unless told otherwise.
func TestEventTopicPublishesToTenantEvents(t *testing.T) {
	rec := &topicRecorder{}
	m := domain.EventMessage{ID: "t1/0000000001/provisioned", Subject: "net.videosrv.cvi.tenant.provisioned", CorrelationID: "CRM-1",
		SessionID: "t1", ContentType: "application/cloudevents+json", Body: []byte(`{"id":"x"}`)}
	if err := (EventTopic{Publisher: rec}).PublishEvent(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if rec.topic != TenantEvents || rec.msg.ID != m.ID || rec.msg.Subject != m.Subject || rec.msg.CorrelationID != m.CorrelationID ||
		rec.msg.SessionID != m.SessionID || rec.msg.ContentType != m.ContentType || string(rec.msg.Body) != string(m.Body) {
		t.Fatalf("published %q %+v", rec.topic, rec.msg)
	}
	if err := (EventTopic{Publisher: rec, Topic: "other"}).PublishEvent(context.Background(), m); err != nil || rec.topic != "other" {
		t.Fatalf("topic %q, %v", rec.topic, err)
	}
	if Provisioning != "provisioning" || Email != "email" {
		t.Fatalf("queue names %q %q (function.json and Bicep name them)", Provisioning, Email)
	}
}
