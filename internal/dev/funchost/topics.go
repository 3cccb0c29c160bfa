package funchost

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Topics with subscriptions, as Service Bus has them: a message sent to a
// topic is copied to every subscription that exists at that moment (a topic
// without subscriptions drops it), and duplicate detection by message ID
// works on the topic as on a queue ("Service Bus queues, topics, and
// subscriptions"; "Duplicate detection", Microsoft Learn). Nothing here
// triggers functions: the app only publishes to topics; the admin surface
// shows what each subscription received, in order, for CRM-side checks.

// TopicMessage is a message as a subscription received it.
type TopicMessage struct {
	Message
	SessionID      string    `json:"sessionId,omitempty"`
	SequenceNumber int64     `json:"sequenceNumber"`
	EnqueuedAt     time.Time `json:"enqueuedTime"`
}

// TopicStats describes a topic.
type TopicStats struct {
	Topic         string              `json:"topic"`
	Sent          int                 `json:"sent"`       // accepted, not counting duplicates
	Duplicates    int                 `json:"duplicates"` // dropped by duplicate detection
	Subscriptions []SubscriptionStats `json:"subscriptions"`
}

// SubscriptionStats counts what a subscription received.
type SubscriptionStats struct {
	Name     string `json:"name"`
	Messages int    `json:"messages"`
}

type topic struct {
	name       string
	seen       map[string]time.Time // message ID → when accepted
	subs       map[string]*subscription
	sent       int
	duplicates int
	nextSeq    int64
}

type subscription struct {
	name     string
	messages []TopicMessage
}

// topicSet is the host's topics (names are case-insensitive, as in Service Bus).
type topicSet struct {
	mu     sync.Mutex
	window time.Duration
	topics map[string]*topic
}

func newTopicSet(window time.Duration, initial map[string][]string) *topicSet {
	ts := &topicSet{window: window, topics: map[string]*topic{}}
	for name, subs := range initial {
		ts.createTopic(name)
		for _, s := range subs {
			_, _ = ts.createSubscription(name, s)
		}
	}
	return ts
}

func (ts *topicSet) createTopic(name string) (created bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := ts.topics[key]; ok {
		return false
	}
	ts.topics[key] = &topic{name: name, seen: map[string]time.Time{}, subs: map[string]*subscription{}}
	return true
}

func (ts *topicSet) createSubscription(topicName, name string) (created bool, err error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.topics[strings.ToLower(topicName)]
	if !ok {
		return false, fmt.Errorf("topic %q does not exist", topicName)
	}
	key := strings.ToLower(name)
	if _, ok := t.subs[key]; ok {
		return false, nil
	}
	t.subs[key] = &subscription{name: name}
	return true, nil
}

// CreateTopic adds a topic (no-op if it exists).
func (h *Host) CreateTopic(name string) { h.topics.createTopic(name) }

// CreateSubscription adds a subscription to an existing topic.
func (h *Host) CreateSubscription(topicName, name string) error {
	_, err := h.topics.createSubscription(topicName, name)
	return err
}

// errNoTopic is a send to a topic that was never created (Azure: 404 MessagingEntityNotFound).
type errNoTopic struct{ name string }

func (e errNoTopic) Error() string { return fmt.Sprintf("topic %q does not exist", e.name) }

// PublishToTopic accepts m on the topic and copies it to every subscription;
// duplicate reports a message ID already accepted inside the window.
func (h *Host) PublishToTopic(topicName string, m Message, sessionID string) (duplicate bool, err error) {
	if err := validateMessage(m, h.cfg.MaxMessageSize); err != nil {
		return false, err
	}
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	ts := h.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.topics[strings.ToLower(topicName)]
	if !ok {
		return false, errNoTopic{topicName}
	}
	now := time.Now().UTC()
	for id, at := range t.seen {
		if now.Sub(at) > ts.window {
			delete(t.seen, id)
		}
	}
	if _, dup := t.seen[m.MessageID]; dup {
		t.duplicates++
		return true, nil
	}
	t.seen[m.MessageID] = now
	t.sent++
	t.nextSeq++
	for _, s := range t.subs {
		s.messages = append(s.messages, TopicMessage{Message: m, SessionID: sessionID, SequenceNumber: t.nextSeq, EnqueuedAt: now})
	}
	return false, nil
}

// SubscriptionMessages returns what a subscription received, oldest first.
func (h *Host) SubscriptionMessages(topicName, sub string) ([]TopicMessage, error) {
	ts := h.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.topics[strings.ToLower(topicName)]
	if !ok {
		return nil, errNoTopic{topicName}
	}
	s, ok := t.subs[strings.ToLower(sub)]
	if !ok {
		return nil, fmt.Errorf("topic %q has no subscription %q", topicName, sub)
	}
	return append([]TopicMessage(nil), s.messages...), nil
}

// AllTopicStats describes every topic, by name.
func (h *Host) AllTopicStats() []TopicStats {
	ts := h.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]TopicStats, 0, len(ts.topics))
	for _, t := range ts.topics {
		st := TopicStats{Topic: t.name, Sent: t.sent, Duplicates: t.duplicates, Subscriptions: []SubscriptionStats{}}
		for _, s := range t.subs {
			st.Subscriptions = append(st.Subscriptions, SubscriptionStats{Name: s.name, Messages: len(s.messages)})
		}
		sort.Slice(st.Subscriptions, func(i, j int) bool { return st.Subscriptions[i].Name < st.Subscriptions[j].Name })
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

func (h *Host) topicRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/topics", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.AllTopicStats())
	})
	mux.HandleFunc("PUT /admin/topics/{topic}", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if h.topics.createTopic(r.PathValue("topic")) {
			status = http.StatusCreated
		}
		writeJSON(w, status, map[string]string{"topic": r.PathValue("topic")})
	})
	mux.HandleFunc("PUT /admin/topics/{topic}/subscriptions/{sub}", func(w http.ResponseWriter, r *http.Request) {
		created, err := h.topics.createSubscription(r.PathValue("topic"), r.PathValue("sub"))
		if err != nil {
			writeError(w, http.StatusNotFound, "%v", err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, map[string]string{"topic": r.PathValue("topic"), "subscription": r.PathValue("sub")})
	})
	mux.HandleFunc("GET /admin/topics/{topic}/subscriptions/{sub}/messages", func(w http.ResponseWriter, r *http.Request) {
		msgs, err := h.SubscriptionMessages(r.PathValue("topic"), r.PathValue("sub"))
		if err != nil {
			writeError(w, http.StatusNotFound, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, msgs)
	})
	mux.HandleFunc("POST /admin/topics/{topic}/messages", h.handleSendTopicMessage)
}

// handleSendTopicMessage accepts one message object (the queue fields plus
// sessionId): 201, or 200 when a duplicate; 404 for an unknown topic.
func (h *Host) handleSendTopicMessage(w http.ResponseWriter, r *http.Request) {
	body, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		writeError(w, http.StatusBadRequest, "body: must be one JSON object: %v", err)
		return
	}
	sessionID, _, err := stringField(fields, "sessionId", "")
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	delete(fields, "sessionId")
	rest, _ := json.Marshal(fields)
	m, err := parseAdminMessage(rest, "")
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !m.ScheduledEnqueueTime.IsZero() {
		writeError(w, http.StatusBadRequest, "scheduledEnqueueTime: not supported on topics here")
		return
	}
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	dup, err := h.PublishToTopic(r.PathValue("topic"), m, sessionID)
	switch {
	case err != nil:
		if _, ok := err.(errNoTopic); ok {
			writeError(w, http.StatusNotFound, "%v", err)
			return
		}
		writeError(w, http.StatusBadRequest, "%v", err)
	case dup:
		writeJSON(w, http.StatusOK, sendResult{MessageID: m.MessageID, Duplicate: true})
	default:
		writeJSON(w, http.StatusCreated, sendResult{MessageID: m.MessageID})
	}
}
