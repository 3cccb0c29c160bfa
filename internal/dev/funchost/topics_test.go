package funchost

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	appqueue "github.com/onemeeting/cvi-onboarding/internal/queue"
)

// A topic copies each message to every subscription that exists when it is
// sent, drops a repeated message ID, and 404s an unknown topic; the app's
// own local publisher is the client.
func TestTopicFanOutAndDuplicateDetection(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{}, okResponse, func(c *Config) {
		c.Topics = map[string][]string{"tenant-events": {"crm"}}
	})
	pub := appqueue.NewLocal(f.h.URL(), nil)
	ctx := context.Background()
	send := func(id string) {
		t.Helper()
		if err := pub.PublishTopic(ctx, "tenant-events", appqueue.TopicMessage{ID: id, Subject: "net.videosrv.cvi.tenant.live",
			CorrelationID: "req-1", SessionID: "tenant-a", Body: []byte(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatalf("PublishTopic %s: %v", id, err)
		}
	}
	send("e1")
	// A subscription added later gets only what is sent after it.
	req, _ := http.NewRequest(http.MethodPut, f.h.URL()+"/admin/topics/tenant-events/subscriptions/audit", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create subscription: %v %v", resp, err)
	}
	resp.Body.Close()
	send("e2")
	send("e1") // duplicate: dropped by the topic
	send("e3")

	get := func(sub string) []TopicMessage {
		t.Helper()
		resp, err := http.Get(f.h.URL() + "/admin/topics/tenant-events/subscriptions/" + sub + "/messages")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list %s: %v %v", sub, resp, err)
		}
		defer resp.Body.Close()
		var out []TopicMessage
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := func(ms []TopicMessage) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.MessageID)
		}
		return strings.Join(s, ",")
	}
	crm := get("crm")
	if got := ids(crm); got != "e1,e2,e3" {
		t.Errorf("crm received %s, want e1,e2,e3", got)
	}
	if got := ids(get("audit")); got != "e2,e3" {
		t.Errorf("audit received %s, want e2,e3", got)
	}
	if m := crm[0]; m.Subject != "net.videosrv.cvi.tenant.live" || m.CorrelationID != "req-1" || m.SessionID != "tenant-a" || m.ContentType != "application/json" {
		t.Errorf("message properties = %+v", m)
	}
	stats := f.h.AllTopicStats()
	if len(stats) != 1 || stats[0].Sent != 3 || stats[0].Duplicates != 1 {
		t.Errorf("stats = %+v", stats)
	}
	err = pub.PublishTopic(ctx, "nope", appqueue.TopicMessage{ID: "x", Body: []byte("{}")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("send to unknown topic: %v, want does not exist", err)
	}
}
