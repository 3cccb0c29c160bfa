package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// sendLog wraps the handler's local-host publisher and remembers every
// message with when it was sent, to see the back-off schedule.
type sendLog struct {
	*queue.Local
	mu   sync.Mutex
	sent []loggedSend
}

type loggedSend struct {
	queue string
	msg   queue.Message
	at    time.Time
}

func (l *sendLog) Publish(ctx context.Context, q string, msgs ...queue.Message) error {
	now := time.Now()
	err := l.Local.Publish(ctx, q, msgs...)
	if err == nil {
		l.mu.Lock()
		for _, m := range msgs {
			l.sent = append(l.sent, loggedSend{queue: q, msg: m, at: now})
		}
		l.mu.Unlock()
	}
	return err
}

// retries returns the back-off copies of the chain that started with originalID.
func (l *sendLog) retries(originalID string) []loggedSend {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedSend
	for _, s := range l.sent {
		if s.msg.ApplicationProperties[queue.PropOriginalMessageID] == originalID && s.msg.ApplicationProperties[queue.PropRetryAttempt] != nil {
			out = append(out, s)
		}
	}
	return out
}

// A storage outage far longer than ten deliveries' worth, with Service Bus's
// immediate redelivery and a maxDeliveryCount of 3: nothing is dead-lettered;
// each message is completed and re-sent with growing delays; once storage is
// back every request completes exactly once.
func TestStorageOutageBacksOffInsteadOfDeadLettering(t *testing.T) {
	t.Parallel()
	az, err := azurite.Start(context.Background(), azurite.Options{Location: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = az.Stop() })
	log := &sendLog{}
	s := newStack(t, stackOptions{az: az, maxDeliveryCount: 3,
		redelivery: func(int) time.Duration { return 0 }, // Service Bus redelivers at once
		settings:   map[string]string{"RETRY_BACKOFF_BASE": "100ms", "RETRY_BACKOFF_MAX": "800ms", "RETRY_BACKOFF_MAX_TOTAL": "10m"},
		publisher:  func(l *queue.Local) queue.Publisher { log.Local = l; return log }})
	before := lastSeq(s.sb)

	if err := az.Stop(); err != nil {
		t.Fatal(err)
	}
	const n = 3
	ids := make([]string, n)
	for i := range n {
		ids[i] = newTenantID()
		body := testkit.JSON(t, example(t, ids[i], "CRM-backoff-"+ids[i][:8]))
		if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "backoff-" + ids[i], Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// More attempts per message than a default queue's 10 deliveries.
	testkit.Eventually(t, 90*time.Second, "12 back-off attempts per message while storage is down", func() bool {
		for _, id := range ids {
			if len(log.retries("backoff-"+id)) < 12 {
				return false
			}
		}
		return true
	})
	if st := s.host.QueueStats(queue.Provisioning); st.DeadLettered != 0 {
		t.Fatalf("dead-lettered %d during the outage", st.DeadLettered)
	}
	chain := log.retries("backoff-" + ids[0])
	for i, c := range chain[:4] {
		if c.msg.ID != "backoff-"+ids[0]+":retry:"+itoa(i+1) {
			t.Errorf("copy %d has ID %s", i+1, c.msg.ID)
		}
	}
	first, fourth := chain[0].msg.ScheduledAt.Sub(chain[0].at), chain[3].msg.ScheduledAt.Sub(chain[3].at)
	if first > 110*time.Millisecond || fourth < 350*time.Millisecond || fourth <= first {
		t.Errorf("delays do not grow: first %s, fourth %s", first, fourth)
	}

	if err := az.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "every tenant provisioned with one consent email", func() bool {
		for _, id := range ids {
			if len(s.mailsTo(adminEmail(id), before)) == 0 {
				return false
			}
		}
		st := s.host.QueueStats(queue.Provisioning)
		return st.Scheduled == 0 && st.Active == 0 && st.InFlight == 0
	})
	s.waitIdle()
	if st := s.host.QueueStats(queue.Provisioning); st.DeadLettered != 0 {
		t.Fatalf("dead-lettered %d", st.DeadLettered)
	}
	page, err := s.app.Store.ListTenants(context.Background(), domain.TenantFilter{}, 100, "")
	if err != nil || len(page.Items) != n {
		t.Fatalf("tenants = %d, %v", len(page.Items), err)
	}
	for _, id := range ids {
		if got := len(s.mailsTo(adminEmail(id), before)); got != 1 {
			t.Errorf("tenant %s: %d consent-link emails, want 1", id, got)
		}
	}
}

// Past RETRY_BACKOFF_MAX_TOTAL the message is dead-lettered (with a rejection
// recorded once storage allows); an operator resubmits it through the admin
// API with a new message ID, and it is processed once. The ops alert about it,
// stuck behind the same outage, is resubmitted from the email dead letters.
func TestDeadLetterResubmitThroughAdminAPI(t *testing.T) {
	t.Parallel()
	az, err := azurite.Start(context.Background(), azurite.Options{Location: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = az.Stop() })
	s := newStack(t, stackOptions{az: az, maxDeliveryCount: 3, redelivery: func(int) time.Duration { return 0 },
		settings: map[string]string{"RETRY_BACKOFF_BASE": "50ms", "RETRY_BACKOFF_MAX": "200ms", "RETRY_BACKOFF_MAX_TOTAL": "2s"}})
	before := lastSeq(s.sb)
	if err := az.Stop(); err != nil {
		t.Fatal(err)
	}
	id := newTenantID()
	msgID := "doomed-" + id
	if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: msgID, Body: testkit.JSON(t, example(t, id, "CRM-doomed-"+id[:8]))}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "dead-lettering after the retry budget", func() bool {
		return len(s.host.DeadLetters(queue.Provisioning)) == 1 && len(s.host.DeadLetters(queue.Email)) == 1
	})
	dl := s.host.DeadLetters(queue.Provisioning)[0]
	if dl.DeliveryCount != 3 || !strings.HasPrefix(dl.MessageID, msgID+":retry:") || dl.ApplicationProperties[queue.PropOriginalMessageID] != msgID {
		t.Fatalf("dead letter = %+v", dl)
	}
	if err := az.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}

	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "33333333-aaaa-4bbb-8ccc-444444444444", Name: "Dana Deadletter", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := call("GET", "/api/admin/deadletters/provisioning", "")
	var list struct {
		Items []struct {
			SequenceNumber    int64   `json:"sequenceNumber"`
			OriginalMessageID *string `json:"originalMessageId"`
			TenantID          *string `json:"tenantId"`
		} `json:"items"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Items) != 1 || list.Items[0].OriginalMessageID == nil ||
		*list.Items[0].OriginalMessageID != msgID || list.Items[0].TenantID == nil || *list.Items[0].TenantID != id {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = call("POST", "/api/admin/deadletters/provisioning/resubmit", testkit.JSON(t, map[string]any{"sequenceNumbers": []int64{list.Items[0].SequenceNumber}}))
	var res struct {
		Resubmitted []struct {
			MessageID         string `json:"messageId"`
			OriginalMessageID string `json:"originalMessageId"`
		} `json:"resubmitted"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil || len(res.Resubmitted) != 1 ||
		res.Resubmitted[0].OriginalMessageID != msgID || res.Resubmitted[0].MessageID == dl.MessageID {
		t.Fatalf("resubmit: %d %s", code, body)
	}
	if code, body = call("POST", "/api/admin/deadletters/email/resubmit", `{"all":true}`); code != http.StatusOK {
		t.Fatalf("resubmit email: %d %s", code, body)
	}
	testkit.Eventually(t, 60*time.Second, "the resubmitted request provisioned and the ops alert sent", func() bool {
		alerted := false
		for _, m := range s.mailsTo("ops@videosrv.net", before) {
			alerted = alerted || strings.Contains(m.HTMLBody, msgID)
		}
		return len(s.mailsTo(adminEmail(id), before)) == 1 && alerted
	})
	s.waitIdle()
	if n := len(s.mailsTo(adminEmail(id), before)); n != 1 {
		t.Errorf("%d consent-link emails, want 1", n)
	}
	if len(s.host.DeadLetters(queue.Provisioning)) != 0 || len(s.host.DeadLetters(queue.Email)) != 0 {
		t.Errorf("dead letters left: %+v %+v", s.host.DeadLetters(queue.Provisioning), s.host.DeadLetters(queue.Email))
	}
	audited := false
	for _, e := range s.audit(id) {
		audited = audited || (e.Action == "deadletter.resubmitted" && e.Actor == "operator:33333333-aaaa-4bbb-8ccc-444444444444" && e.Details["originalMessageId"] == msgID)
	}
	if !audited {
		t.Errorf("no audit event for the resubmit: %+v", s.audit(id))
	}
}
