package queue

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Application properties the service sets on the messages it re-sends.
// Service Bus redelivers an abandoned message at once and dead-letters it
// after MaxDeliveryCount (10) deliveries, and a custom handler can neither
// defer nor delay it (reference/functions-custom-handler.md §3). So a
// transient failure completes the message and re-sends a copy as a scheduled
// message; these properties carry the retry state across the copies.
const (
	PropKind = "kind"
	// PropRetryAttempt counts re-sends: 1 on the first copy.
	PropRetryAttempt = "retryAttempt"
	// PropOriginalMessageID is the message ID of the first message of a
	// chain of re-sends (or of a resubmitted dead letter).
	PropOriginalMessageID = "originalMessageId"
	// PropRetryFirstFailure is when the first delivery of the chain failed
	// (RFC 3339), the start of the back-off budget.
	PropRetryFirstFailure = "retryFirstFailureAt"
	// PropResubmittedBy names the operator who resubmitted a dead letter.
	PropResubmittedBy = "resubmittedBy"
)

// maxMessageIDLength is Service Bus's limit on MessageId.
const maxMessageIDLength = 128

// Backoff is the re-send policy for transient failures: exponential from
// Base, capped at Max, with jitter, until MaxTotal after the first failure.
type Backoff struct {
	Base     time.Duration
	Max      time.Duration
	MaxTotal time.Duration
	// Jitter returns a number in [0, 1); nil uses math/rand/v2.
	Jitter func() float64
}

// RetryState is what a delivered message says about its retry chain.
type RetryState struct {
	// Attempt is the number of re-sends so far (0 on the first message).
	Attempt int
	// OriginalMessageID is the first message's ID.
	OriginalMessageID string
	// FirstFailure is when the chain's first delivery failed; zero on the
	// first message.
	FirstFailure time.Time
}

// maxAttempt bounds an attempt count read from a message: properties are
// input, and the exponent must stay small.
const maxAttempt = 100_000

// ReadRetryState reads the retry state from a delivered message's
// application properties, defensively: the Functions host serializes values
// in more than one way (a number, a string, a JSON string inside a string),
// and anything malformed counts as absent rather than failing the message.
// messageID is the delivered message's own ID.
func ReadRetryState(props map[string]any, messageID string, now time.Time) RetryState {
	st := RetryState{OriginalMessageID: messageID}
	if n, ok := propInt(props[PropRetryAttempt]); ok && n > 0 {
		st.Attempt = min(n, maxAttempt)
	}
	if id, ok := propString(props[PropOriginalMessageID]); ok && id != "" && len(id) <= maxMessageIDLength {
		st.OriginalMessageID = id
	}
	if s, ok := propString(props[PropRetryFirstFailure]); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && !t.After(now) {
			st.FirstFailure = t.UTC()
		}
	}
	if st.Attempt > 0 && st.FirstFailure.IsZero() {
		// A copy without a usable start: the budget starts now.
		st.FirstFailure = now.UTC()
	}
	return st
}

// propString accepts a string, also one serialized into a JSON string.
func propString(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	for range 2 {
		t := strings.TrimSpace(s)
		if len(t) < 2 || t[0] != '"' {
			break
		}
		var inner string
		if json.Unmarshal([]byte(t), &inner) != nil {
			break
		}
		s = inner
	}
	return s, true
}

// propInt accepts a JSON number, a numeric string or a quoted numeric string.
func propInt(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		if n != float64(int64(n)) || n < 0 || n > maxAttempt {
			return 0, false
		}
		return int(n), true
	case int:
		return n, true
	case int64:
		return int(min(n, maxAttempt)), true
	case json.Number:
		i, err := n.Int64()
		return int(min(i, maxAttempt)), err == nil
	}
	s, ok := propString(v)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	return i, err == nil
}

// Plan is the decision for one transient failure.
type Plan struct {
	// GiveUp: the budget is spent; record the failure, alert, do not re-send.
	GiveUp bool
	// Next is the state the re-sent copy carries.
	Next RetryState
	// Delay is how long the copy waits (ScheduledAt = now + Delay).
	Delay time.Duration
	// Elapsed is the time since the chain's first failure.
	Elapsed time.Duration
}

// Plan decides what to do after a transient failure of a message in state
// st. retryAfter is the wait a throttling server asked for (0 if none).
func (b Backoff) Plan(st RetryState, now time.Time, retryAfter time.Duration) Plan {
	first := st.FirstFailure
	if first.IsZero() {
		first = now.UTC()
	}
	elapsed := max(now.Sub(first), 0)
	p := Plan{Elapsed: elapsed, Next: RetryState{Attempt: st.Attempt + 1, OriginalMessageID: st.OriginalMessageID, FirstFailure: first}}
	remaining := b.MaxTotal - elapsed
	if remaining <= 0 {
		p.GiveUp = true
		return p
	}
	d := b.delay(p.Next.Attempt)
	if retryAfter > d {
		d = min(retryAfter, max(b.Max, b.Base))
	}
	// The last copy is due exactly at the end of the budget.
	p.Delay = min(d, remaining)
	return p
}

// delay is Base·2^(attempt-1) capped at Max, with "equal jitter": a random
// point in [d/2, d), so copies of many messages failing together spread out
// while each chain's delays still grow.
func (b Backoff) delay(attempt int) time.Duration {
	base, ceil := max(b.Base, time.Millisecond), max(b.Max, b.Base)
	d := base
	for i := 1; i < attempt && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	jitter := b.Jitter
	if jitter == nil {
		jitter = rand.Float64
	}
	half := d / 2
	return half + time.Duration(jitter()*float64(d-half))
}

// Properties are the application properties of the copy in state st.
func (st RetryState) Properties() map[string]any {
	return map[string]any{
		PropRetryAttempt:      st.Attempt,
		PropOriginalMessageID: st.OriginalMessageID,
		PropRetryFirstFailure: st.FirstFailure.UTC().Format(time.RFC3339Nano),
	}
}

// MessageID is the copy's message ID: derived from the original and the
// attempt, so duplicate detection drops a second re-send of the same attempt
// (the original redelivered after its copy was sent) but never the next one.
func (st RetryState) MessageID() string {
	return DerivedMessageID(st.OriginalMessageID, "retry", strconv.Itoa(st.Attempt))
}

// DerivedMessageID is "<id>:<kind>:<n>", within Service Bus's 128
// characters (a long id is replaced by a hash of it).
func DerivedMessageID(id, kind, n string) string {
	suffix := ":" + kind + ":" + n
	if len(id)+len(suffix) <= maxMessageIDLength {
		return id + suffix
	}
	return hashedID(id) + suffix
}

// ShortID is id itself when it fits a Service Bus message ID, else a hash
// of it: for building keys and IDs out of message IDs of any length.
func ShortID(id string) string {
	if len(id) <= maxMessageIDLength {
		return id
	}
	return hashedID(id)
}

func hashedID(id string) string {
	return "h" + domain.Digest(id, 20)
}

// String is for logs.
func (st RetryState) String() string {
	return fmt.Sprintf("attempt %d of %s", st.Attempt, st.OriginalMessageID)
}
