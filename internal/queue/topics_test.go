package queue

import (
	"context"
	"errors"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A topic message goes out through the topic's own sender with every
// property CRM relies on; a failed send is classified like a queue send.
func TestServiceBusTopicMessageShape(t *testing.T) {
	sb, senders := newRecordingBus()
	m := TopicMessage{ID: "t1/0000000001/provisioned", Subject: "net.videosrv.cvi.tenant.provisioned", CorrelationID: "CRM-1",
		SessionID: "t1", ContentType: "application/cloudevents+json", Body: []byte(`{"specversion":"1.0"}`)}
	if err := sb.PublishTopic(context.Background(), TenantEvents, m); err != nil {
		t.Fatal(err)
	}
	got := senders[TenantEvents].single
	if len(got) != 1 {
		t.Fatalf("sent %d messages to the topic", len(got))
	}
	s := got[0]
	if *s.MessageID != m.ID || *s.Subject != m.Subject || *s.CorrelationID != "CRM-1" || *s.SessionID != "t1" ||
		*s.ContentType != "application/cloudevents+json" || string(s.Body) != string(m.Body) {
		t.Errorf("message = %+v", s)
	}
	senders[TenantEvents].err = errors.New("boom")
	if err := sb.PublishTopic(context.Background(), TenantEvents, m); err == nil || domain.ErrorCode(err) == "" {
		t.Errorf("failed send: %v", err)
	}
}
