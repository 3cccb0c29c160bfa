package funchost

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Message is what a sender puts on a queue (the subset of a Service Bus message the app uses).
type Message struct {
	MessageID             string         `json:"messageId"`
	Body                  string         `json:"body"`
	ContentType           string         `json:"contentType,omitempty"`
	CorrelationID         string         `json:"correlationId,omitempty"`
	Subject               string         `json:"subject,omitempty"`
	ApplicationProperties map[string]any `json:"applicationProperties,omitempty"`
	ScheduledEnqueueTime  time.Time      `json:"scheduledEnqueueTime,omitzero"`
}

// DeadLetter is a message moved to the dead-letter queue.
type DeadLetter struct {
	Message
	SequenceNumber int64     `json:"sequenceNumber"`
	DeliveryCount  int       `json:"deliveryCount"`
	Reason         string    `json:"reason"`
	Description    string    `json:"description"`
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
}

// QueueStats counts a queue's messages. Active includes messages held by a
// test-only RedeliveryDelay; Scheduled only counts messages whose
// ScheduledEnqueueTime is still in the future.
type QueueStats struct {
	Queue        string `json:"queue"`
	Active       int    `json:"active"`
	Redelivering int    `json:"redelivering"` // part of Active: abandoned, held by a test-only RedeliveryDelay (0 by default)
	Scheduled    int    `json:"scheduled"`
	InFlight     int    `json:"inFlight"`
	Completed    int    `json:"completed"`
	DeadLettered int    `json:"deadLettered"`
	Deliveries   int    `json:"deliveries"` // delivery attempts, including failed ones
	Listeners    int    `json:"listeners"`  // trigger functions reading this queue
	// MaxDeliveryCount is the queue's maxDeliveryCount.
	MaxDeliveryCount int `json:"maxDeliveryCount"`
}

// Service Bus limits the emulator enforces so local runs fail where Azure would.
const (
	maxMessageIDLength = 128
	defaultMessageTTL  = 14 * 24 * time.Hour // portal default for a new queue
)

// envelope is a message as the broker holds it.
type envelope struct {
	msg           Message
	sequence      int64
	enqueuedAt    time.Time
	visibleAt     time.Time // zero = available now
	userScheduled bool      // held by ScheduledEnqueueTime, not by a redelivery back-off
	deliveryCount int       // deliveries so far, including the current one while in flight
	lastFailure   string
}

type dedupEntry struct {
	id   string
	seen time.Time
}

type queue struct {
	name        string
	dedupWin    time.Duration
	maxDelivery int // the queue's maxDeliveryCount
	listeners   int // fixed after New

	mu          sync.Mutex
	sequence    int64
	ready       []*envelope
	delayed     []*envelope // sorted by visibleAt
	inFlight    int
	completed   int
	deliveries  int
	deadLetters []DeadLetter
	dedup       map[string]time.Time
	dedupOrder  []dedupEntry
	changed     chan struct{} // closed and replaced on every change
}

func newQueue(name string, dedupWindow time.Duration, maxDelivery int) *queue {
	return &queue{name: name, dedupWin: dedupWindow, maxDelivery: maxDelivery, dedup: map[string]time.Time{}, changed: make(chan struct{})}
}

// signalLocked wakes everybody waiting on the current changed channel.
func (q *queue) signalLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func validateMessage(m Message, maxSize int) error {
	if len(m.MessageID) > maxMessageIDLength {
		return fmt.Errorf("messageId: longer than %d characters", maxMessageIDLength)
	}
	if maxSize > 0 && len(m.Body) > maxSize {
		return fmt.Errorf("body: %d bytes exceeds the %d-byte message size limit", len(m.Body), maxSize)
	}
	keys := make([]string, 0, len(m.ApplicationProperties))
	for k := range m.ApplicationProperties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			return errors.New("applicationProperties: empty property name")
		}
		if !isPrimitive(m.ApplicationProperties[k]) {
			return fmt.Errorf("applicationProperties.%s: must be a string, number, boolean, time or null (Service Bus has no nested properties)", k)
		}
	}
	return nil
}

func isPrimitive(v any) bool {
	switch v.(type) {
	case nil, string, bool, time.Time, uuid.UUID, []byte:
		return true
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.String: // json.Number and other string types
		return true
	}
	return false
}

// enqueue adds a validated message; it reports duplicates within the detection window.
func (q *queue) enqueue(m Message, now time.Time) (duplicate bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pruneDedupLocked(now)
	if _, seen := q.dedup[m.MessageID]; seen {
		return true
	}
	q.dedup[m.MessageID] = now
	q.dedupOrder = append(q.dedupOrder, dedupEntry{id: m.MessageID, seen: now})

	q.sequence++
	env := &envelope{msg: m, sequence: q.sequence, enqueuedAt: now}
	if m.ScheduledEnqueueTime.After(now) {
		env.visibleAt = m.ScheduledEnqueueTime
		env.enqueuedAt = m.ScheduledEnqueueTime // Service Bus stamps the activation time
		env.userScheduled = true
		q.insertDelayedLocked(env)
	} else {
		q.ready = append(q.ready, env)
	}
	q.signalLocked()
	return false
}

func (q *queue) pruneDedupLocked(now time.Time) {
	cut := 0
	for cut < len(q.dedupOrder) && now.Sub(q.dedupOrder[cut].seen) >= q.dedupWin {
		delete(q.dedup, q.dedupOrder[cut].id)
		cut++
	}
	q.dedupOrder = q.dedupOrder[cut:]
}

func (q *queue) insertDelayedLocked(env *envelope) {
	i := sort.Search(len(q.delayed), func(i int) bool { return q.delayed[i].visibleAt.After(env.visibleAt) })
	q.delayed = append(q.delayed, nil)
	copy(q.delayed[i+1:], q.delayed[i:])
	q.delayed[i] = env
}

// take locks the next available message for delivery. Without one, it returns
// when the next delayed message becomes due (zero if none) and a channel closed
// on the next change.
func (q *queue) take(now time.Time) (env *envelope, nextDue time.Time, changed <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promoteLocked(now)
	if len(q.ready) > 0 {
		env = q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		env.deliveryCount++
		q.inFlight++
		q.deliveries++
		return env, time.Time{}, nil
	}
	if len(q.delayed) > 0 {
		nextDue = q.delayed[0].visibleAt
	}
	return nil, nextDue, q.changed
}

func (q *queue) promoteLocked(now time.Time) {
	n := 0
	for n < len(q.delayed) && !q.delayed[n].visibleAt.After(now) {
		q.delayed[n].visibleAt = time.Time{}
		q.ready = append(q.ready, q.delayed[n])
		n++
	}
	if n > 0 {
		q.delayed = append([]*envelope(nil), q.delayed[n:]...)
	}
}

// next blocks until a message can be delivered or ctx ends.
func (q *queue) next(ctx context.Context) (*envelope, bool) {
	for {
		env, due, changed := q.take(time.Now())
		if env != nil {
			return env, true
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if !due.IsZero() {
			timer = time.NewTimer(time.Until(due))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, false
		}
	}
}

func (q *queue) complete(*envelope) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	q.completed++
	q.signalLocked()
}

// release returns a message that was taken but never delivered (host shutting down).
func (q *queue) release(env *envelope) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	q.deliveries--
	env.deliveryCount--
	q.ready = append([]*envelope{env}, q.ready...)
	q.signalLocked()
}

// abandon makes a failed message available again at once (or after delay, a
// test-only deviation), or dead-letters it once it has been delivered the
// queue's maxDeliveryCount times. It reports whether it dead-lettered.
func (q *queue) abandon(env *envelope, failure string, delay time.Duration, now time.Time) bool {
	maxDelivery := q.maxDelivery
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	env.lastFailure = failure
	defer q.signalLocked()
	if env.deliveryCount >= maxDelivery {
		q.deadLetters = append(q.deadLetters, DeadLetter{
			Message:       env.msg,
			DeliveryCount: env.deliveryCount,
			Reason:        "MaxDeliveryCountExceeded",
			Description: fmt.Sprintf("Message could not be consumed after %d delivery attempts. Last attempt: %s",
				env.deliveryCount, failure),
			DeadLetteredAt: now,
		})
		q.deadLetters[len(q.deadLetters)-1].SequenceNumber = env.sequence
		return true
	}
	if delay <= 0 {
		// Service Bus: an abandoned message is available again at once, at the
		// head of the queue, with DeliveryCount+1 on the next receive.
		q.ready = append([]*envelope{env}, q.ready...)
		return false
	}
	env.visibleAt = now.Add(delay)
	env.userScheduled = false
	q.insertDelayedLocked(env)
	return false
}

func (q *queue) stats(now time.Time) QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QueueStats{
		Queue:        q.name,
		Active:       len(q.ready),
		InFlight:     q.inFlight,
		Completed:    q.completed,
		DeadLettered: len(q.deadLetters),
		Deliveries:   q.deliveries,
		Listeners:    q.listeners,

		MaxDeliveryCount: q.maxDelivery,
	}
	for _, env := range q.delayed {
		switch {
		case !env.userScheduled:
			s.Active++
			s.Redelivering++
		case env.visibleAt.After(now):
			s.Scheduled++
		default:
			s.Active++ // due, not yet picked up
		}
	}
	return s
}

func (q *queue) deadLettersCopy() []DeadLetter {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]DeadLetter(nil), q.deadLetters...)
}
