package queue

import (
	"context"
	"slices"
	"sync"
)

// Sent is one message a Recorder accepted.
type Sent struct {
	Queue   string
	Message Message
}

// Recorder is an in-memory Publisher and DeadLetters for tests: it records
// what is published (with Service Bus's duplicate detection on message IDs)
// and holds dead letters put there with AddDeadLetter.
type Recorder struct {
	mu      sync.Mutex
	sent    []Sent
	seen    map[string]bool
	dead    []DeadLetter
	nextSeq int64
	// Err, when set, fails every Publish.
	Err error
}

// Publish records msgs (dropping IDs already seen on the same queue).
func (r *Recorder) Publish(_ context.Context, queue string, msgs ...Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Err != nil {
		return r.Err
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	for _, m := range msgs {
		key := queue + "\x00" + m.ID
		if m.ID != "" && r.seen[key] {
			continue
		}
		r.seen[key] = true
		r.sent = append(r.sent, Sent{Queue: queue, Message: m})
	}
	return nil
}

// Close does nothing.
func (r *Recorder) Close(context.Context) error { return nil }

// Sent returns what was published, optionally only to queue.
func (r *Recorder) Sent(queue string) []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Sent
	for _, s := range r.sent {
		if queue == "" || s.Queue == queue {
			out = append(out, s)
		}
	}
	return out
}

// AddDeadLetter puts dl into the in-memory dead-letter queue with the next
// sequence number, which it returns.
func (r *Recorder) AddDeadLetter(dl DeadLetter) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSeq++
	dl.SequenceNumber = r.nextSeq
	r.dead = append(r.dead, dl)
	return dl.SequenceNumber
}

// ListDeadLetters returns the queue's dead letters, oldest first.
func (r *Recorder) ListDeadLetters(_ context.Context, queue string, max int) ([]DeadLetter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []DeadLetter
	for _, dl := range r.dead {
		if dl.Queue == queue && len(out) < max {
			out = append(out, described(dl))
		}
	}
	return out, nil
}

// ResubmitDeadLetters publishes the selected dead letters as new messages
// and removes them, as ServiceBus does.
func (r *Recorder) ResubmitDeadLetters(ctx context.Context, queue string, sel Selection, by string) ([]Resubmitted, []int64, error) {
	dls, _ := r.ListDeadLetters(ctx, queue, resubmitMaxScan)
	var done []Resubmitted
	found := map[int64]bool{}
	for _, dl := range dls {
		if !sel.Has(dl.SequenceNumber) {
			continue
		}
		msg, res := resubmission(dl, by)
		if err := r.Publish(ctx, queue, msg); err != nil {
			return done, nil, err
		}
		r.mu.Lock()
		r.dead = slices.DeleteFunc(r.dead, func(d DeadLetter) bool { return d.Queue == queue && d.SequenceNumber == dl.SequenceNumber })
		r.mu.Unlock()
		found[dl.SequenceNumber] = true
		done = append(done, res)
	}
	return done, missingOf(sel, found), nil
}
