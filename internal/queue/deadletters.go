package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The dead-letter types and port are the domain's (domain.DeadLetters);
// these names keep the adapter's code and tests short.
type (
	DeadLetter  = domain.DeadLetter
	Resubmitted = domain.Resubmitted
	Selection   = domain.DeadLetterSelection
	DeadLetters = domain.DeadLetters
)

// The adapters implement the domain's port.
var (
	_ domain.DeadLetters = (*ServiceBus)(nil)
	_ domain.DeadLetters = (*Local)(nil)
	_ domain.DeadLetters = (*Recorder)(nil)
)

// described fills what the domain reads off a dead letter's properties and
// body: the original message ID and the tenant.
func described(dl DeadLetter) DeadLetter {
	if id, ok := dl.ApplicationProperties[PropOriginalMessageID].(string); ok && id != "" {
		dl.OriginalMessageID = id
	}
	dl.TenantID = BodyTenantID(dl.Body)
	return dl
}

// resubmission is the message that replaces a dead letter: a new ID derived
// from the dead letter's ID and sequence number (so repeating a resubmit
// whose removal failed is dropped as a duplicate), the original ID in
// "originalMessageId", and a fresh back-off budget.
func resubmission(dl DeadLetter, by string) (Message, Resubmitted) {
	orig := dl.MessageID
	if id, ok := propString(dl.ApplicationProperties[PropOriginalMessageID]); ok && id != "" && len(id) <= maxMessageIDLength {
		orig = id
	}
	seq := strconv.FormatInt(dl.SequenceNumber, 10)
	m := Message{
		ID:                    DerivedMessageID(dl.MessageID, "resubmit", seq),
		Body:                  dl.Body,
		ContentType:           dl.ContentType,
		ApplicationProperties: map[string]any{PropOriginalMessageID: orig, PropResubmittedBy: by},
	}
	if k, ok := propString(dl.ApplicationProperties[PropKind]); ok {
		m.Kind = k
	} else {
		m.Kind = dl.Subject
	}
	return m, Resubmitted{SequenceNumber: dl.SequenceNumber, DeadLetterID: dl.MessageID, OriginalMessageID: orig, MessageID: m.ID,
		TenantID: BodyTenantID(dl.Body)}
}

// BodyTenantID is a message body's top-level tenantId when it is a valid
// GUID (provisioning requests and email jobs carry one), for logs, alerts
// and audit; "" otherwise.
func BodyTenantID(body []byte) string {
	var b struct {
		TenantID string `json:"tenantId"`
	}
	if json.Unmarshal(body, &b) != nil || b.TenantID == "" {
		return ""
	}
	id, err := domain.NormalizeTenantID("tenantId", b.TenantID)
	if err != nil {
		return ""
	}
	return id
}

// dlReceiver is the part of *azservicebus.Receiver used on a dead-letter
// sub-queue, so tests can fake it.
type dlReceiver interface {
	PeekMessages(ctx context.Context, max int, o *azservicebus.PeekMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	ReceiveMessages(ctx context.Context, max int, o *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, m *azservicebus.ReceivedMessage, o *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, m *azservicebus.ReceivedMessage, o *azservicebus.AbandonMessageOptions) error
	Close(ctx context.Context) error
}

func (sb *ServiceBus) deadLetterReceiver(queue string) (dlReceiver, error) {
	if sb.newDLReceiver == nil {
		return nil, domain.Errorf(domain.CodeInternal, "no Service Bus client for dead letters")
	}
	r, err := sb.newDLReceiver(queue)
	if err != nil {
		return nil, classify(err, "open the dead-letter queue of %s", queue)
	}
	return r, nil
}

func fromReceived(queue string, m *azservicebus.ReceivedMessage) DeadLetter {
	dl := DeadLetter{Queue: queue, MessageID: m.MessageID, DeliveryCount: int(m.DeliveryCount),
		ApplicationProperties: m.ApplicationProperties, Body: m.Body}
	if m.SequenceNumber != nil {
		dl.SequenceNumber = *m.SequenceNumber
	}
	dl.Subject, dl.ContentType = deref(m.Subject), deref(m.ContentType)
	dl.Reason, dl.Description = deref(m.DeadLetterReason), deref(m.DeadLetterErrorDescription)
	if m.EnqueuedTime != nil {
		dl.EnqueuedAt = m.EnqueuedTime.UTC()
	}
	return described(dl)
}

// ListDeadLetters peeks (no lock, nothing changes) at the dead-letter sub-queue.
func (sb *ServiceBus) ListDeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error) {
	r, err := sb.deadLetterReceiver(queue)
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []DeadLetter
	var from *int64
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, max-len(out), &azservicebus.PeekMessagesOptions{FromSequenceNumber: from})
		if err != nil {
			return nil, classify(err, "peek the dead-letter queue of %s", queue)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, fromReceived(queue, m))
		}
		if last := msgs[len(msgs)-1].SequenceNumber; last != nil {
			next := *last + 1
			from = &next
		} else {
			break
		}
	}
	return out, nil
}

// resubmitLimits bound one resubmit call: messages locked (the queue's lock
// lasts 5 minutes; unselected ones are held until the end so they are not
// received twice) and the wait for "no more messages".
const (
	resubmitMaxScan     = 5000
	defaultResubmitIdle = 3 * time.Second
)

// ResubmitDeadLetters receives the dead letters with PeekLock, sends each
// selected one as a new message, then completes (removes) the dead letter.
// Unselected ones are abandoned (left in place) at the end.
func (sb *ServiceBus) ResubmitDeadLetters(ctx context.Context, queue string, sel Selection, by string) ([]Resubmitted, []int64, error) {
	r, err := sb.deadLetterReceiver(queue)
	if err != nil {
		return nil, nil, err
	}
	settle := context.WithoutCancel(ctx)
	defer r.Close(settle)
	var held []*azservicebus.ReceivedMessage
	defer func() {
		for _, m := range held {
			_ = r.AbandonMessage(settle, m, nil) // the lock expires anyway
		}
	}()
	var done []Resubmitted
	found := map[int64]bool{}
	scanned := 0
	for scanned < resubmitMaxScan && (sel.All || len(found) < len(sel.SequenceNumbers)) {
		idleAfter := sb.resubmitIdle
		if idleAfter <= 0 {
			idleAfter = defaultResubmitIdle
		}
		waitCtx, cancel := context.WithTimeout(ctx, idleAfter)
		msgs, err := r.ReceiveMessages(waitCtx, 50, nil)
		idle := waitCtx.Err() != nil
		cancel()
		if err != nil && !(idle && ctx.Err() == nil) {
			return done, nil, classify(err, "receive from the dead-letter queue of %s", queue)
		}
		if len(msgs) == 0 {
			break
		}
		scanned += len(msgs)
		for i, m := range msgs {
			dl := fromReceived(queue, m)
			if !sel.Has(dl.SequenceNumber) {
				held = append(held, m)
				continue
			}
			msg, res := resubmission(dl, by)
			if err := sb.Publish(ctx, queue, msg); err != nil {
				held = append(held, msgs[i:]...)
				return done, nil, fmt.Errorf("resubmit dead letter %d (%s): %w", dl.SequenceNumber, dl.MessageID, err)
			}
			if err := r.CompleteMessage(settle, m, nil); err != nil {
				// The copy is out; a later resubmit of the same dead letter
				// reuses its message ID and is dropped as a duplicate.
				held = append(held, msgs[i+1:]...)
				return done, nil, classify(err, "remove dead letter %d of %s after resubmitting it as %s", dl.SequenceNumber, queue, msg.ID)
			}
			found[dl.SequenceNumber] = true
			done = append(done, res)
		}
	}
	return done, missingOf(sel, found), nil
}

func missingOf(sel Selection, found map[int64]bool) []int64 {
	var missing []int64
	for _, seq := range sel.SequenceNumbers {
		if !found[seq] && !slices.Contains(missing, seq) {
			missing = append(missing, seq)
		}
	}
	return missing
}
