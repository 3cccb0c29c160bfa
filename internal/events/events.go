// Package events publishes committed lifecycle changes to CRM: CloudEvents
// 1.0 in structured JSON mode on the Service Bus topic tenant-events.
//
// A change and its event commit together (the tenant's outbox in Table
// Storage, see tablestore/outbox.go); this package is the relay that
// publishes what was committed. After each commit it publishes that
// partition's pending events at once (best effort); the RelayEvents timer
// sweeps every partition for events a crash or an outage left behind. A
// partition's events go out in sequence order: the relay stops at the first
// one it cannot send. Publishing is at least once (a crash between send and
// mark resends); the message ID is the event id, so the topic's duplicate
// detection drops a resend inside its window and CRM deduplicates by id
// after it.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// DefaultSource is the CloudEvents source of every event.
const DefaultSource = "urn:net.videosrv:cvi-onboarding"

// Envelope builds and validates the CloudEvent of an outbox event.
func Envelope(source string, e domain.OutboxEvent) (cloudevents.Event, error) {
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(e.ID)
	ev.SetSource(source)
	ev.SetType(e.Type.CloudEventType())
	if e.Subject != "" {
		ev.SetSubject(e.Subject)
	}
	ev.SetTime(e.Time.UTC())
	if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(e.Data)); err != nil {
		return ev, domain.Wrap(domain.CodeInternal, err, "event %s: set data", e.ID)
	}
	if err := ev.Validate(); err != nil {
		return ev, domain.Wrap(domain.CodeInternal, err, "event %s is not a valid CloudEvent", e.ID)
	}
	return ev, nil
}

// Message is the topic message of an outbox event: the structured-mode
// CloudEvent as body, message ID = event id, Subject = event type, the CRM
// requestId as CorrelationId and the tenant as session (per-tenant order).
func Message(source string, e domain.OutboxEvent) (domain.EventMessage, error) {
	ev, err := Envelope(source, e)
	if err != nil {
		return domain.EventMessage{}, err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return domain.EventMessage{}, domain.Wrap(domain.CodeInternal, err, "encode event %s", e.ID)
	}
	session := e.Subject
	if session == "" {
		session = e.Partition
	}
	return domain.EventMessage{ID: e.ID, Subject: ev.Type(), CorrelationID: e.RequestID, SessionID: session,
		ContentType: cloudevents.ApplicationCloudEventsJSON, Body: body}, nil
}

// Relay publishes committed events. It is a domain.EventSink.
type Relay struct {
	Outbox domain.EventOutbox
	// Publisher is the topic (internal/queue's EventTopic: tenant-events).
	Publisher domain.EventPublisher
	Source    string // default DefaultSource
	Logger    *slog.Logger
	// Timeout bounds the publish after a commit (default 5 s).
	Timeout time.Duration

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

var _ domain.EventSink = (*Relay)(nil)

// EventsCommitted publishes the partition's pending events now; a failure
// is logged and left to the sweep, never returned to the committing caller.
func (r *Relay) EventsCommitted(ctx context.Context, partition string) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := r.Flush(ctx, partition); err != nil {
		r.logger().WarnContext(ctx, "lifecycle events not published yet; the sweep will retry", "tenantId", partition, "err", err)
	}
}

// Flush publishes the partition's pending events in order and marks each
// published; it stops at the first failure so none overtakes an earlier one.
func (r *Relay) Flush(ctx context.Context, partition string) (int, error) {
	lock := r.lock(partition)
	lock.Lock()
	defer lock.Unlock()
	pending, err := r.Outbox.PendingEvents(ctx, partition)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range pending {
		msg, err := Message(r.source(), e)
		if err != nil {
			return n, err
		}
		if err := r.Publisher.PublishEvent(ctx, msg); err != nil {
			return n, fmt.Errorf("publish event %s: %w", e.ID, err)
		}
		if err := r.Outbox.MarkEventPublished(ctx, e); err != nil {
			// Published but not marked: the next pass sends it again
			// under the same id (dropped as a duplicate).
			return n, fmt.Errorf("mark event %s published: %w", e.ID, err)
		}
		n++
		r.logger().InfoContext(ctx, "lifecycle event published", "tenantId", e.Subject, "eventId", e.ID, "type", msg.Subject, "requestId", e.RequestID)
	}
	return n, nil
}

// Sweep publishes every partition's pending events (the timer's pass for
// events a crash or outage left). It goes on past a failing partition.
func (r *Relay) Sweep(ctx context.Context) (published int, err error) {
	parts, err := r.Outbox.PendingEventPartitions(ctx)
	if err != nil {
		return 0, err
	}
	var firstErr error
	for _, p := range parts {
		n, err := r.Flush(ctx, p)
		published += n
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return published, firstErr
}

func (r *Relay) lock(partition string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.locks == nil {
		r.locks = map[string]*sync.Mutex{}
	}
	l, ok := r.locks[partition]
	if !ok {
		l = &sync.Mutex{}
		r.locks[partition] = l
	}
	return l
}

func (r *Relay) source() string {
	if r.Source == "" {
		return DefaultSource
	}
	return r.Source
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
