package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// sender is the part of *azservicebus.Sender this package uses, so tests can
// record what would be sent (the SDK's own testing pattern).
type sender interface {
	SendMessage(ctx context.Context, m *azservicebus.Message, o *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

// batchSender sends several messages in as few batches as fit.
type batchSender interface {
	sender
	SendBatch(ctx context.Context, msgs []*azservicebus.Message) error
}

// ServiceBus publishes through azservicebus, one sender per queue.
type ServiceBus struct {
	newSender func(queue string) (batchSender, error)
	// newDLReceiver opens a PeekLock receiver on a queue's dead-letter sub-queue.
	newDLReceiver func(queue string) (dlReceiver, error)
	// resubmitIdle is how long an empty receive means "no more dead letters".
	resubmitIdle time.Duration
	logger       *slog.Logger

	mu      sync.Mutex
	senders map[string]batchSender
	client  *azservicebus.Client
}

// NewServiceBus connects (lazily) to namespace (<ns>.servicebus.windows.net)
// with cred, usually the managed identity. opts may be nil (SDK defaults,
// including its retries).
func NewServiceBus(namespace string, cred azcore.TokenCredential, opts *azservicebus.ClientOptions, logger *slog.Logger) (*ServiceBus, error) {
	client, err := azservicebus.NewClient(namespace, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("create Service Bus client for %s: %w", namespace, err)
	}
	sb := &ServiceBus{logger: logger, senders: map[string]batchSender{}, client: client}
	sb.newSender = func(queue string) (batchSender, error) {
		s, err := client.NewSender(queue, nil)
		if err != nil {
			return nil, err
		}
		return sdkSender{s}, nil
	}
	sb.newDLReceiver = func(queue string) (dlReceiver, error) {
		return client.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{
			ReceiveMode: azservicebus.ReceiveModePeekLock, SubQueue: azservicebus.SubQueueDeadLetter})
	}
	return sb, nil
}

func (sb *ServiceBus) senderFor(queue string) (batchSender, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if s, ok := sb.senders[queue]; ok {
		return s, nil
	}
	s, err := sb.newSender(queue)
	if err != nil {
		return nil, domain.Wrap(domain.CodeUnavailable, err, "create Service Bus sender for queue %s", queue)
	}
	sb.senders[queue] = s
	return s, nil
}

// Publish sends msgs to queue: one message directly, several as batches.
func (sb *ServiceBus) Publish(ctx context.Context, queue string, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s, err := sb.senderFor(queue)
	if err != nil {
		return err
	}
	sbMsgs := make([]*azservicebus.Message, len(msgs))
	for i, m := range msgs {
		sbMsgs[i] = toServiceBus(m)
	}
	if len(sbMsgs) == 1 {
		err = s.SendMessage(ctx, sbMsgs[0], nil)
	} else {
		err = s.SendBatch(ctx, sbMsgs)
	}
	if err != nil {
		return classify(err, "send %d message(s) to queue %s", len(msgs), queue)
	}
	return nil
}

// Close closes every sender and the client.
func (sb *ServiceBus) Close(ctx context.Context) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var errs []error
	for q, s := range sb.senders {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close sender %s: %w", q, err))
		}
	}
	sb.senders = map[string]batchSender{}
	if sb.client != nil {
		if err := sb.client.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close Service Bus client: %w", err))
		}
	}
	return errors.Join(errs...)
}

func toServiceBus(m Message) *azservicebus.Message {
	ct := contentType(m)
	id := m.ID
	msg := &azservicebus.Message{Body: m.Body, ContentType: &ct, MessageID: &id, ApplicationProperties: properties(m)}
	if m.Kind != "" {
		subject := m.Kind
		msg.Subject = &subject
	}
	if !m.ScheduledAt.IsZero() {
		at := m.ScheduledAt.UTC()
		msg.ScheduledEnqueueTime = &at
	}
	return msg
}

// classify maps Service Bus errors to domain codes: an unknown queue or
// missing rights is a deployment error (permanent); everything else, including
// lost connections and timeouts, may pass.
func classify(err error, format string, args ...any) error {
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) {
		switch sbErr.Code {
		case azservicebus.CodeNotFound, azservicebus.CodeUnauthorizedAccess:
			return domain.Wrap(domain.CodeInternal, err, format, args...)
		}
	}
	if errors.Is(err, azservicebus.ErrMessageTooLarge) {
		return domain.Wrap(domain.CodeInternal, err, format, args...)
	}
	return domain.Wrap(domain.CodeUnavailable, err, format, args...)
}

// sdkSender adapts *azservicebus.Sender, adding batching.
type sdkSender struct{ *azservicebus.Sender }

func (s sdkSender) SendBatch(ctx context.Context, msgs []*azservicebus.Message) error {
	batch, err := s.NewMessageBatch(ctx, nil)
	if err != nil {
		return fmt.Errorf("new message batch: %w", err)
	}
	for _, m := range msgs {
		err := batch.AddMessage(m, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && batch.NumMessages() > 0 {
			if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
				return fmt.Errorf("send message batch: %w", err)
			}
			if batch, err = s.NewMessageBatch(ctx, nil); err != nil {
				return fmt.Errorf("new message batch: %w", err)
			}
			err = batch.AddMessage(m, nil)
		}
		if err != nil {
			return fmt.Errorf("add message %s to batch: %w", deref(m.MessageID), err)
		}
	}
	if batch.NumMessages() > 0 {
		if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("send message batch: %w", err)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
