package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// delivery is one Service Bus invocation, as much of it as a re-send needs.
type delivery struct {
	function    string
	queue       string
	messageID   string
	contentType string
	kind        string
	props       map[string]any
	body        []byte
	tenantID    string // "" when the body names none (or not validly)
}

func newDelivery(function, queueName string, req *InvokeRequest, body []byte) delivery {
	d := delivery{function: function, queue: queueName, body: body,
		messageID: metaString(req.Metadata, "MessageId"), contentType: metaString(req.Metadata, "ContentType")}
	d.props = applicationProperties(req.Metadata, body)
	if k, ok := d.props[queue.PropKind].(string); ok {
		d.kind = k
	}
	d.tenantID = queue.BodyTenantID(body)
	return d
}

// workID names the work this delivery carries on: the first message's ID for
// a back-off copy or a resubmitted dead letter, else this message's own.
func (d delivery) workID() string {
	if id, ok := d.props[queue.PropOriginalMessageID].(string); ok && id != "" {
		return id
	}
	return d.messageID
}

// applicationProperties reads Metadata.ApplicationProperties (or its older
// name UserProperties) defensively. The real host copies a JSON body's
// top-level keys into the same case-insensitive dictionary after the system
// keys (reference §2), so when the body itself has such a key the value is
// the sender's, not the broker's, and is ignored.
func applicationProperties(md map[string]json.RawMessage, body []byte) map[string]any {
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	for _, key := range []string{"ApplicationProperties", "UserProperties"} {
		shadowed := false
		for k := range top {
			if strings.EqualFold(k, key) {
				shadowed = true
			}
		}
		raw, ok := md[key]
		if !ok || shadowed {
			continue
		}
		if props := decodeProps(raw); props != nil {
			return props
		}
	}
	return map[string]any{}
}

// decodeProps accepts an object, or an object serialized into a string.
func decodeProps(raw json.RawMessage) map[string]any {
	for range 3 {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return nil
		}
		if raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil
			}
			raw = json.RawMessage(s)
			continue
		}
		var props map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&props) != nil {
			return nil
		}
		return props
	}
	return nil
}

// retryLater handles a transient failure (store, Graph, a lease or another
// delivery in flight) without burning deliveries: Service Bus would
// redeliver at once and dead-letter after ten quick failures, and a custom
// handler cannot defer a message (reference §3). So the message is
// completed (2xx) and a copy is scheduled with exponential back-off. Only a
// failed re-send fails the invocation (the host then redelivers the
// original). Once the budget is spent, giveUp records and alerts.
func (s *Server) retryLater(w http.ResponseWriter, r *http.Request, d delivery, cause error) {
	now := s.Now().UTC()
	st := queue.ReadRetryState(d.props, d.messageID, now)
	plan := s.Retry.Plan(st, now, domain.RetryAfter(cause))
	attrs := []any{"function", d.function, "queue", d.queue, "messageId", d.messageID, "originalMessageId", st.OriginalMessageID,
		"tenantId", d.tenantID, "attempt", plan.Next.Attempt, "elapsed", plan.Elapsed.Round(time.Millisecond).String(), "err", cause}
	if plan.GiveUp {
		s.giveUp(w, r, d, plan, cause, attrs)
		return
	}
	if s.Publisher == nil {
		s.failInvocation(w, d.function, cause)
		return
	}
	at := now.Add(plan.Delay)
	msg := queue.Message{ID: plan.Next.MessageID(), Kind: d.kind, Body: d.body, ContentType: d.contentType,
		ScheduledAt: at, ApplicationProperties: plan.Next.Properties()}
	if err := s.Publisher.Publish(r.Context(), d.queue, msg); err != nil {
		s.Logger.Error("transient failure and the delayed re-send failed too; failing the invocation so Service Bus redelivers",
			append(attrs, "resendErr", err)...)
		writeInvokeFailure(w, fmt.Errorf("%w (re-send failed: %v)", cause, err))
		return
	}
	s.Logger.Warn("transient failure; message completed and re-sent with back-off",
		append(attrs, "retryMessageId", msg.ID, "delay", plan.Delay.Round(time.Millisecond).String(), "scheduledAt", at)...)
	writeInvokeOK(w, []string{fmt.Sprintf("transient failure, retry %d scheduled at %s as %s: %v", plan.Next.Attempt, at.Format(time.RFC3339), msg.ID, cause)}, nil)
}

// giveUp ends a chain whose transient failures outlasted RETRY_BACKOFF_MAX_TOTAL:
// it records a rejection, alerts operations and fails the invocation, so
// Service Bus dead-letters the message after its deliveries (the alerted
// dead-letter queue keeps the whole message for a resubmit; reference §3:
// a custom handler cannot dead-letter directly). Nothing is completed here,
// so a message whose record or alert could not be written is not lost.
func (s *Server) giveUp(w http.ResponseWriter, r *http.Request, d delivery, plan queue.Plan, cause error, attrs []any) {
	ctx := r.Context()
	orig := plan.Next.OriginalMessageID
	reason := fmt.Sprintf("transient failures for %s (%d re-sends since %s); last: %v",
		plan.Elapsed.Round(time.Second), plan.Next.Attempt-1, plan.Next.FirstFailure.Format(time.RFC3339), cause)
	recorded, alerted := "yes", "yes"
	if s.Store != nil {
		rej := domain.Rejection{ID: "retry-exhausted-" + d.queue + "-" + queue.ShortID(orig), At: plan.Next.FirstFailure,
			Source: "queue:" + d.queue, MessageID: orig, TenantID: d.tenantID, Reason: domain.Truncate(reason, 4000),
			BodyPrefix: domain.Truncate(string(d.body), 1024)}
		if err := s.Store.AddRejection(ctx, rej); err != nil {
			recorded = "no: " + err.Error()
		}
	} else {
		recorded = "no store"
	}
	switch {
	case d.queue == queue.Email && d.kind == string(domain.EmailOpsAlert):
		alerted = "no: the message is itself an ops alert (the dead-letter alert covers it)"
	case s.Publisher == nil || s.Config == nil || len(s.Config.OperationsEmails) == 0:
		alerted = "no: no publisher or no OPERATIONS_EMAIL"
	default:
		job := domain.OpsAlertJob(domain.OpsAlertKey("retry-exhausted", d.queue, queue.ShortID(orig)), d.tenantID, s.Config.OperationsEmails,
			domain.Alert{Subject: "A " + d.queue + " message kept failing and goes to the dead-letter queue",
				Detail: domain.Truncate(reason, 4000),
				Facts: map[string]string{"queue": d.queue, "function": d.function, "originalMessageId": orig, "messageId": d.messageID,
					"attempts": strconv.Itoa(plan.Next.Attempt - 1), "firstFailure": plan.Next.FirstFailure.Format(time.RFC3339),
					"runbook": "docs/operations.md#13-dead-letter-queues"}})
		if err := queue.PublishEmail(ctx, s.Publisher, job, time.Time{}); err != nil {
			alerted = "no: " + err.Error()
		}
	}
	s.Logger.Error("transient failures outlasted the retry budget; failing the invocation so the message is dead-lettered",
		append(attrs, "rejectionRecorded", recorded, "opsAlerted", alerted)...)
	writeInvokeFailure(w, fmt.Errorf("retry budget spent: %s", reason))
}
