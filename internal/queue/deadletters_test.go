package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// fakeDLQ plays a dead-letter sub-queue: PeekLock receive hands out each
// unlocked message once; Complete removes, Abandon unlocks.
type fakeDLQ struct {
	mu        sync.Mutex
	msgs      []*azservicebus.ReceivedMessage
	locked    map[int64]bool
	completed []int64
	abandoned []int64
	closed    bool
}

func ptr[T any](v T) *T { return &v }

func (f *fakeDLQ) add(seq int64, id string, body string, props map[string]any) {
	f.msgs = append(f.msgs, &azservicebus.ReceivedMessage{SequenceNumber: ptr(seq), MessageID: id, Body: []byte(body),
		ApplicationProperties: props, DeadLetterReason: ptr("MaxDeliveryCountExceeded"), DeliveryCount: 10, Subject: ptr("consent-link")})
}

func (f *fakeDLQ) PeekMessages(_ context.Context, max int, o *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*azservicebus.ReceivedMessage
	for _, m := range f.msgs {
		if (o == nil || o.FromSequenceNumber == nil || *m.SequenceNumber >= *o.FromSequenceNumber) && len(out) < min(max, 2) {
			out = append(out, m) // at most 2 per call: paging must continue
		}
	}
	return out, nil
}

func (f *fakeDLQ) ReceiveMessages(ctx context.Context, max int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	f.mu.Lock()
	var out []*azservicebus.ReceivedMessage
	for _, m := range f.msgs {
		if !f.locked[*m.SequenceNumber] && len(out) < max {
			f.locked[*m.SequenceNumber] = true
			out = append(out, m)
		}
	}
	f.mu.Unlock()
	if len(out) == 0 {
		<-ctx.Done() // like the SDK: wait for a message or the context
		return nil, ctx.Err()
	}
	return out, nil
}

func (f *fakeDLQ) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.completed = append(f.completed, *m.SequenceNumber)
	for i, x := range f.msgs {
		if x == m {
			f.msgs = append(f.msgs[:i], f.msgs[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeDLQ) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.abandoned = append(f.abandoned, *m.SequenceNumber)
	delete(f.locked, *m.SequenceNumber)
	return nil
}

func (f *fakeDLQ) Close(context.Context) error { f.closed = true; return nil }

func newDLQBus() (*ServiceBus, *fakeDLQ, map[string]*recordingSender) {
	sb, senders := newRecordingBus()
	dlq := &fakeDLQ{locked: map[int64]bool{}}
	sb.newDLReceiver = func(string) (dlReceiver, error) { return dlq, nil }
	sb.resubmitIdle = 50 * time.Millisecond
	return sb, dlq, senders
}

func TestServiceBusListDeadLettersPages(t *testing.T) {
	sb, dlq, _ := newDLQBus()
	for i := int64(1); i <= 5; i++ {
		dlq.add(i, "m", "{}", nil)
	}
	got, err := sb.ListDeadLetters(context.Background(), Email, 4)
	if err != nil || len(got) != 4 || got[3].SequenceNumber != 4 || got[0].Reason != "MaxDeliveryCountExceeded" || got[0].DeliveryCount != 10 {
		t.Fatalf("list = %+v, %v", got, err)
	}
	if len(dlq.completed)+len(dlq.abandoned) != 0 || !dlq.closed {
		t.Errorf("peek settled messages or left the receiver open")
	}
}

// A selected dead letter is sent under a new ID with the original's ID in
// originalMessageId, then completed; the others are left in place.
func TestServiceBusResubmitSelected(t *testing.T) {
	sb, dlq, senders := newDLQBus()
	dlq.add(7, "consent-link:t1", `{"tenantId":"3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"}`, map[string]any{PropKind: "consent-link", PropRetryAttempt: int64(9)})
	dlq.add(8, "other", "{}", nil)
	dlq.add(9, "consent-link:t1:retry:4", "{}", map[string]any{PropOriginalMessageID: "consent-link:t1"})
	done, missing, err := sb.ResubmitDeadLetters(context.Background(), Email, Selection{SequenceNumbers: []int64{7, 9, 42}}, "operator:o1")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || len(missing) != 1 || missing[0] != 42 {
		t.Fatalf("done %+v missing %v", done, missing)
	}
	sent := senders[Email].single
	if len(sent) != 2 {
		t.Fatalf("sent %d", len(sent))
	}
	first := sent[0]
	if *first.MessageID == "consent-link:t1" || *first.MessageID != "consent-link:t1:resubmit:7" {
		t.Errorf("new message ID %q must differ from the dead letter's", *first.MessageID)
	}
	if first.ApplicationProperties[PropOriginalMessageID] != "consent-link:t1" || first.ApplicationProperties[PropKind] != "consent-link" ||
		first.ApplicationProperties[PropResubmittedBy] != "operator:o1" || first.ApplicationProperties[PropRetryAttempt] != nil {
		t.Errorf("props = %v (want original ID, kind, who, and a fresh retry budget)", first.ApplicationProperties)
	}
	if done[0].TenantID != "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10" {
		t.Errorf("tenant = %q", done[0].TenantID)
	}
	if sent[1].ApplicationProperties[PropOriginalMessageID] != "consent-link:t1" {
		t.Errorf("a re-send's original ID is kept: %v", sent[1].ApplicationProperties)
	}
	if len(dlq.completed) != 2 || len(dlq.abandoned) != 1 || dlq.abandoned[0] != 8 || len(dlq.msgs) != 1 {
		t.Errorf("completed %v abandoned %v left %d", dlq.completed, dlq.abandoned, len(dlq.msgs))
	}
}

// When the send fails, nothing is completed: the dead letter stays.
func TestServiceBusResubmitKeepsDeadLetterWhenSendFails(t *testing.T) {
	sb, dlq, _ := newDLQBus()
	sb.newSender = func(string) (batchSender, error) {
		return &recordingSender{err: &azservicebus.Error{Code: azservicebus.CodeConnectionLost}}, nil
	}
	dlq.add(1, "a", "{}", nil)
	dlq.add(2, "b", "{}", nil)
	done, _, err := sb.ResubmitDeadLetters(context.Background(), Provisioning, Selection{All: true}, "operator:o1")
	var sbErr *azservicebus.Error
	if err == nil || !errors.As(err, &sbErr) || len(done) != 0 {
		t.Fatalf("done %v err %v", done, err)
	}
	if len(dlq.completed) != 0 || len(dlq.msgs) != 2 || len(dlq.abandoned) != 2 {
		t.Errorf("completed %v abandoned %v", dlq.completed, dlq.abandoned)
	}
}

func TestServiceBusResubmitAll(t *testing.T) {
	sb, dlq, senders := newDLQBus()
	for i := int64(1); i <= 3; i++ {
		dlq.add(i, "m", "{}", nil)
	}
	done, missing, err := sb.ResubmitDeadLetters(context.Background(), Revalidation, Selection{All: true}, "operator:o1")
	if err != nil || len(done) != 3 || len(missing) != 0 || len(dlq.msgs) != 0 || len(senders[Revalidation].single) != 3 {
		t.Fatalf("done %v missing %v err %v left %d", done, missing, err, len(dlq.msgs))
	}
	if done[0].MessageID == done[1].MessageID {
		t.Errorf("two dead letters with one message ID got the same new ID %q", done[0].MessageID)
	}
}

// The domain names the replayable queues; they must be this package's.
func TestDeadLetterQueuesAreQueueNames(t *testing.T) {
	if got, want := domain.DeadLetterQueues(), []string{Provisioning, Email, Revalidation}; !slices.Equal(got, want) {
		t.Errorf("domain.DeadLetterQueues() = %v, want %v", got, want)
	}
}

// Every adapter fills the original message ID (a string property only) and
// the body's tenant, which the domain reads instead of queue internals.
func TestDeadLettersDescribeOriginalAndTenant(t *testing.T) {
	tenant := "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	r := &Recorder{}
	r.AddDeadLetter(DeadLetter{Queue: Email, MessageID: "a", ApplicationProperties: map[string]any{PropOriginalMessageID: "orig-a"},
		Body: []byte(`{"tenantId":"` + strings.ToUpper(tenant) + `"}`)})
	r.AddDeadLetter(DeadLetter{Queue: Email, MessageID: "b", ApplicationProperties: map[string]any{PropOriginalMessageID: int64(7)},
		Body: []byte(`{"tenantId":"not-a-guid"}`)})
	dls, err := r.ListDeadLetters(t.Context(), Email, 10)
	if err != nil || len(dls) != 2 {
		t.Fatalf("list = %+v, %v", dls, err)
	}
	if dls[0].OriginalMessageID != "orig-a" || dls[0].TenantID != tenant {
		t.Errorf("first = %+v", dls[0])
	}
	if dls[1].OriginalMessageID != "" || dls[1].TenantID != "" {
		t.Errorf("second = %+v", dls[1])
	}

	f := &fakeDLQ{}
	f.add(1, "c", `{"tenantId":"`+tenant+`"}`, map[string]any{PropOriginalMessageID: "orig-c"})
	sb := &ServiceBus{newDLReceiver: func(string) (dlReceiver, error) { return f, nil }}
	got, err := sb.ListDeadLetters(t.Context(), Email, 10)
	if err != nil || len(got) != 1 || got[0].OriginalMessageID != "orig-c" || got[0].TenantID != tenant {
		t.Errorf("service bus list = %+v, %v", got, err)
	}
}
