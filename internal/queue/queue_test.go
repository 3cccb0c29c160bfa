package queue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

type recordingSender struct {
	mu      sync.Mutex
	single  []*azservicebus.Message
	batches [][]*azservicebus.Message
	err     error
}

func (r *recordingSender) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.single = append(r.single, m)
	return r.err
}

func (r *recordingSender) SendBatch(_ context.Context, msgs []*azservicebus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, msgs)
	return r.err
}

func (r *recordingSender) Close(context.Context) error { return nil }

func newRecordingBus() (*ServiceBus, map[string]*recordingSender) {
	senders := map[string]*recordingSender{}
	sb := &ServiceBus{senders: map[string]batchSender{}}
	sb.newSender = func(q string) (batchSender, error) {
		s := &recordingSender{}
		senders[q] = s
		return s, nil
	}
	return sb, senders
}

func TestServiceBusMessageShape(t *testing.T) {
	sb, senders := newRecordingBus()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	err := sb.Publish(context.Background(), Email, Message{ID: "consent-link:t1", Kind: "consent-link", Body: []byte(`{"a":1}`), ScheduledAt: at})
	if err != nil {
		t.Fatal(err)
	}
	got := senders[Email].single
	if len(got) != 1 {
		t.Fatalf("sent %d messages", len(got))
	}
	m := got[0]
	if *m.MessageID != "consent-link:t1" || *m.ContentType != "application/json" || m.ApplicationProperties["kind"] != "consent-link" || *m.Subject != "consent-link" {
		t.Errorf("message = %+v", m)
	}
	if m.ScheduledEnqueueTime == nil || !m.ScheduledEnqueueTime.Equal(at) || m.ScheduledEnqueueTime.Location() != time.UTC {
		t.Errorf("scheduled = %v", m.ScheduledEnqueueTime)
	}
}

func TestServiceBusBatchesSeveralMessages(t *testing.T) {
	sb, senders := newRecordingBus()
	msgs := []Message{{ID: "run1:0", Body: []byte("{}")}, {ID: "run1:1", Body: []byte("{}")}, {ID: "run1:2", Body: []byte("{}")}}
	if err := sb.Publish(context.Background(), Revalidation, msgs...); err != nil {
		t.Fatal(err)
	}
	s := senders[Revalidation]
	if len(s.single) != 0 || len(s.batches) != 1 || len(s.batches[0]) != 3 || *s.batches[0][2].MessageID != "run1:2" {
		t.Fatalf("single=%d batches=%v", len(s.single), s.batches)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want domain.Code
	}{
		{&azservicebus.Error{Code: azservicebus.CodeConnectionLost}, domain.CodeUnavailable},
		{&azservicebus.Error{Code: azservicebus.CodeTimeout}, domain.CodeUnavailable},
		{&azservicebus.Error{Code: azservicebus.CodeNotFound}, domain.CodeInternal},
		{&azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, domain.CodeInternal},
		{context.DeadlineExceeded, domain.CodeUnavailable},
		{azservicebus.ErrMessageTooLarge, domain.CodeInternal},
	}
	for _, tc := range cases {
		if got := domain.ErrorCode(classify(tc.err, "x")); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The real SDK client against a closed loopback port: the failure must be
// classified transient so the invocation fails and the message is redelivered.
func TestServiceBusUnreachableIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	// One quick retry keeps the test fast; production uses the SDK defaults.
	opts := &azservicebus.ClientOptions{RetryOptions: azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}}
	sb, err := NewServiceBus(addr, staticCred{}, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = sb.Publish(ctx, Email, Message{ID: "x", Body: []byte("{}")})
	if err == nil || !domain.IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestLocalPublisher(t *testing.T) {
	var got []localMessage
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	l := NewLocal(srv.URL, srv.Client())
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	err := l.Publish(context.Background(), Email, Message{ID: "k1", Kind: "consent-link", Body: []byte(`{"x":"<y>"}`), ScheduledAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if path != "/admin/queues/email/messages" || len(got) != 1 {
		t.Fatalf("path %s, got %+v", path, got)
	}
	m := got[0]
	if m.MessageID != "k1" || m.Body != `{"x":"<y>"}` || m.ApplicationProperties["kind"] != "consent-link" || m.ScheduledEnqueueTime != "2026-12-01T09:00:00Z" {
		t.Errorf("message = %+v", m)
	}
}

func TestLocalPublisherErrors(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", status)
	}))
	l := NewLocal(srv.URL, srv.Client())
	if err := l.Publish(context.Background(), Email, Message{ID: "a"}); !domain.IsTransient(err) {
		t.Errorf("503: err = %v, want transient", err)
	}
	status = http.StatusBadRequest
	if err := l.Publish(context.Background(), Email, Message{ID: "a"}); domain.ErrorCode(err) != domain.CodeInternal {
		t.Errorf("400: err = %v, want internal", err)
	}
	srv.Close()
	err := l.Publish(context.Background(), Email, Message{ID: "a"})
	var de *domain.Error
	if !errors.As(err, &de) || !domain.IsTransient(err) {
		t.Errorf("closed: err = %v, want transient", err)
	}
}
