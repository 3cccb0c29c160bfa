package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/notify"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const testTenant = "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"

// downStore is the real Table Storage client pointed at a closed loopback
// port: every call fails the way an outage does (transient).
func downStore(t *testing.T) *tablestore.Store {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	conn := "DefaultEndpointsProtocol=http;AccountName=" + azurite.AccountName + ";AccountKey=" + azurite.AccountKey +
		";TableEndpoint=http://" + addr + "/" + azurite.AccountName + ";"
	s, err := tablestore.NewFromConnectionString(conn, tablestore.Options{Retry: &policy.RetryOptions{MaxRetries: -1, TryTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type retryFixture struct {
	srv  *Server
	pub  *queue.Recorder
	now  time.Time
	logs *testkit.SyncBuffer
}

func newRetryFixture(t *testing.T) *retryFixture {
	t.Helper()
	store := downStore(t)
	f := &retryFixture{pub: &queue.Recorder{}, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), logs: &testkit.SyncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	now := func() time.Time { return f.now }
	rejected := &rejections.Recorder{Store: store, Outbox: queue.Outbox{Publisher: f.pub}, OpsEmails: []string{"ops@videosrv.net"}, Logger: logger}
	regions := domain.Regions{"eu": {Code: "eu", DisplayName: "Europe", AppID: testTenant, TenantKeyDomain: "eu.example", InstructionBaseURL: "https://join.example/eu"}}
	f.srv = New(Deps{
		Config: &config.Config{OperationsEmails: []string{"ops@videosrv.net"}},
		Store:  store, Logger: logger, Now: now, Publisher: f.pub, Admin: http.NotFoundHandler(),
		Retry:        queue.Backoff{Base: 10 * time.Second, Max: time.Minute, MaxTotal: time.Hour, Jitter: func() float64 { return 0.5 }},
		Provisioning: &provisioning.Service{Store: store, Outbox: queue.Outbox{Publisher: f.pub}, Regions: regions, Rejections: rejected, ReminderDelay: time.Hour, Now: now, Logger: logger},
		Notify: &notify.Service{Store: store, Outbox: queue.Outbox{Publisher: f.pub}, Regions: regions, OpsEmails: []string{"ops@videosrv.net"}, Lease: time.Minute, Now: now, Logger: logger,
			Rejections: rejected},
		Revalidation: &revalidation.Service{Store: store, Outbox: queue.Outbox{Publisher: f.pub}, OpsEmails: []string{"ops@videosrv.net"}, Rejections: rejected, BatchSize: 10, Concurrency: 2, AlertAfter: 3, CheckTimeout: time.Second, Now: now, Logger: logger},
	})
	return f
}

// invoke POSTs a Service Bus invocation shaped like the real host's: the
// body as exactly two levels of JSON string, metadata primitives serialized
// into strings, application properties as an object.
func (f *retryFixture) invoke(t *testing.T, function, messageID string, body []byte, props map[string]any) *httptest.ResponseRecorder {
	t.Helper()
	once, _ := json.Marshal(string(body))
	twice, _ := json.Marshal(string(once))
	quoted, _ := json.Marshal(messageID)
	qid, _ := json.Marshal(string(quoted))
	if props == nil {
		props = map[string]any{}
	}
	rawProps, _ := json.Marshal(props)
	md := map[string]json.RawMessage{"MessageId": qid, "DeliveryCount": json.RawMessage(`"1"`), "ApplicationProperties": rawProps, "UserProperties": rawProps}
	// The host copies the body's top-level keys into Metadata too.
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		for k, v := range top {
			if _, system := md[k]; !system {
				md[k] = v
			}
		}
	}
	payload, _ := json.Marshal(map[string]any{"Data": map[string]json.RawMessage{"msg": twice}, "Metadata": md})
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(payload))
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	return w
}

func provisioningMessage() []byte {
	b, _ := json.Marshal(map[string]any{"schemaVersion": 1, "requestId": "CRM-1", "tenantId": testTenant, "customerName": "Contoso",
		"primaryDomain": "contoso.com", "region": "eu", "adminIps": []string{"203.0.113.7"},
		"contacts": []map[string]any{{"name": "IT", "email": "it@contoso.com", "role": "admin"}}})
	return b
}

func onlySent(t *testing.T, pub *queue.Recorder, q string) queue.Message {
	t.Helper()
	sent := pub.Sent(q)
	if len(sent) != 1 {
		t.Fatalf("queue %s: %d messages re-sent, want 1 (all: %+v)", q, len(sent), pub.Sent(""))
	}
	return sent[0].Message
}

// A storage outage: the invocation succeeds (2xx: the message is completed
// instead of burning a delivery) and a copy is scheduled with back-off; the
// copy's own failure schedules the next one with a longer delay.
func TestTransientProvisioningFailureIsRescheduled(t *testing.T) {
	f := newRetryFixture(t)
	body := provisioningMessage()
	w := f.invoke(t, "ProvisionTenant", "crm-msg-1", body, map[string]any{"kind": "provisioning"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	m := onlySent(t, f.pub, queue.Provisioning)
	if m.ID != "crm-msg-1:retry:1" || !bytes.Equal(m.Body, body) || m.Kind != "provisioning" {
		t.Errorf("copy = %s kind %q body %s", m.ID, m.Kind, m.Body)
	}
	if d := m.ScheduledAt.Sub(f.now); d != 7500*time.Millisecond { // 10s base, jitter 0.5 → 3/4 of it
		t.Errorf("first delay %s", d)
	}
	if m.ApplicationProperties[queue.PropRetryAttempt] != 1 || m.ApplicationProperties[queue.PropOriginalMessageID] != "crm-msg-1" ||
		m.ApplicationProperties[queue.PropRetryFirstFailure] != f.now.Format(time.RFC3339Nano) {
		t.Errorf("props = %v", m.ApplicationProperties)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"transient failure; message completed and re-sent with back-off"`) || !strings.Contains(logs, `"tenantId":"`+testTenant+`"`) {
		t.Errorf("no attempt log naming the tenant:\n%s", logs)
	}

	// The copy arrives (properties as the host hands them over: JSON) and fails too.
	f.now = m.ScheduledAt
	props := map[string]any{}
	for k, v := range m.ApplicationProperties {
		props[k] = v
	}
	if w := f.invoke(t, "ProvisionTenant", m.ID, body, props); w.Code != http.StatusOK {
		t.Fatalf("second: status %d: %s", w.Code, w.Body)
	}
	second := f.pub.Sent(queue.Provisioning)[1].Message
	if second.ID != "crm-msg-1:retry:2" || second.ApplicationProperties[queue.PropOriginalMessageID] != "crm-msg-1" {
		t.Errorf("second copy %s props %v", second.ID, second.ApplicationProperties)
	}
	if d := second.ScheduledAt.Sub(f.now); d != 15*time.Second {
		t.Errorf("second delay %s, want 15s (grows)", d)
	}
}

// The original redelivered after its copy was already sent (the 2xx got
// lost) re-sends the same message ID, which duplicate detection drops.
func TestRedeliveredOriginalResendsSameID(t *testing.T) {
	f := newRetryFixture(t)
	body := provisioningMessage()
	for range 2 {
		if w := f.invoke(t, "ProvisionTenant", "crm-msg-2", body, nil); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := len(f.pub.Sent(queue.Provisioning)); n != 1 {
		t.Errorf("%d copies, want 1 (same derived ID)", n)
	}
}

// Only when the re-send fails does the invocation fail (the host redelivers).
func TestResendFailureFailsInvocation(t *testing.T) {
	f := newRetryFixture(t)
	f.pub.Err = domain.Wrap(domain.CodeUnavailable, errors.New("namespace unreachable"), "send")
	w := f.invoke(t, "ProvisionTenant", "crm-msg-3", provisioningMessage(), nil)
	if w.Code < 500 {
		t.Fatalf("status %d, want a failed invocation", w.Code)
	}
	if !strings.Contains(f.logs.String(), "re-send failed too") {
		t.Errorf("logs:\n%s", f.logs)
	}
}

// Past RETRY_BACKOFF_MAX_TOTAL: no more copies; operations are alerted and
// the invocation fails so the message ends in the dead-letter queue.
func TestRetryBudgetSpentAlertsAndDeadLetters(t *testing.T) {
	f := newRetryFixture(t)
	props := map[string]any{queue.PropRetryAttempt: 30, queue.PropOriginalMessageID: "crm-msg-4",
		queue.PropRetryFirstFailure: f.now.Add(-2 * time.Hour).Format(time.RFC3339Nano)}
	w := f.invoke(t, "ProvisionTenant", "crm-msg-4:retry:30", provisioningMessage(), props)
	if w.Code < 500 {
		t.Fatalf("status %d, want a failed invocation", w.Code)
	}
	if n := len(f.pub.Sent(queue.Provisioning)); n != 0 {
		t.Errorf("%d copies after the budget", n)
	}
	alert := onlySent(t, f.pub, queue.Email)
	var job domain.EmailJob
	if err := json.Unmarshal(alert.Body, &job); err != nil {
		t.Fatal(err)
	}
	if job.Kind != domain.EmailOpsAlert || job.TenantID != testTenant || job.Alert.Facts["originalMessageId"] != "crm-msg-4" ||
		job.IdempotencyKey != "ops-alert:retry-exhausted:provisioning:crm-msg-4" {
		t.Errorf("alert = %+v", job)
	}
	if !strings.Contains(f.logs.String(), "outlasted the retry budget") || !strings.Contains(f.logs.String(), `"rejectionRecorded":"no: `) {
		t.Errorf("logs must say what happened (the store is down, so no rejection):\n%s", f.logs)
	}
}

func TestTransientEmailAndBatchFailuresAreRescheduled(t *testing.T) {
	f := newRetryFixture(t)
	job, _ := json.Marshal(domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentLink, TenantID: testTenant,
		Recipients: []string{"it@contoso.com"}, IdempotencyKey: "consent-link:" + testTenant})
	if w := f.invoke(t, "SendEmail", "consent-link:"+testTenant, job, map[string]any{"kind": "consent-link"}); w.Code != http.StatusOK {
		t.Fatalf("SendEmail status %d: %s", w.Code, w.Body)
	}
	m := onlySent(t, f.pub, queue.Email)
	if m.ID != "consent-link:"+testTenant+":retry:1" || m.Kind != "consent-link" {
		t.Errorf("email copy %s kind %q", m.ID, m.Kind)
	}
	batch, _ := json.Marshal(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run1", Batch: 0, TenantIDs: []string{testTenant}})
	if w := f.invoke(t, "RevalidateBatch", "run1:0", batch, nil); w.Code != http.StatusOK {
		t.Fatalf("RevalidateBatch status %d: %s", w.Code, w.Body)
	}
	if m := onlySent(t, f.pub, queue.Revalidation); m.ID != "run1:0:retry:1" {
		t.Errorf("batch copy %s", m.ID)
	}
}

// A body key named like the system key ApplicationProperties overwrites it
// in the real host's Metadata: such a value is never trusted as retry state.
func TestBodyCannotForgeRetryState(t *testing.T) {
	md := map[string]json.RawMessage{"ApplicationProperties": json.RawMessage(`{"retryAttempt":99}`)}
	body := []byte(`{"applicationProperties":{"retryAttempt":99}}`)
	if props := applicationProperties(md, body); len(props) != 0 {
		t.Errorf("props from a shadowing body: %v", props)
	}
	if props := applicationProperties(map[string]json.RawMessage{"UserProperties": json.RawMessage(`"{\"retryAttempt\":2}"`)}, []byte(`{}`)); props["retryAttempt"] != json.Number("2") {
		t.Errorf("props serialized into a string: %v", props)
	}
}

// A back-off copy claims an email job as its original did, so it re-enters
// the claim its predecessor left instead of waiting out the lease.
func TestBackoffCopyWorksAsItsOriginal(t *testing.T) {
	md := func(props map[string]any) map[string]json.RawMessage {
		raw, _ := json.Marshal(props)
		return map[string]json.RawMessage{"MessageId": json.RawMessage(`"\"consent-link:t1:retry:3\""`), "ApplicationProperties": raw}
	}
	copyOf := newDelivery("SendEmail", queue.Email, &InvokeRequest{Metadata: md(map[string]any{queue.PropOriginalMessageID: "consent-link:t1"})}, []byte(`{}`))
	if got := copyOf.workID(); got != "consent-link:t1" {
		t.Errorf("back-off copy works as %q, want its original consent-link:t1", got)
	}
	first := newDelivery("SendEmail", queue.Email, &InvokeRequest{Metadata: md(map[string]any{})}, []byte(`{}`))
	if got := first.workID(); got != "consent-link:t1:retry:3" {
		t.Errorf("a first delivery works as %q, want its own message ID", got)
	}
}
