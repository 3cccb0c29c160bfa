package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// localDeadLetter is a dead letter as the dev host lists it
// (GET {base}/admin/queues/{queue}/deadletter).
type localDeadLetter struct {
	SequenceNumber        int64          `json:"sequenceNumber"`
	MessageID             string         `json:"messageId"`
	Body                  string         `json:"body"`
	ContentType           string         `json:"contentType"`
	Subject               string         `json:"subject"`
	ApplicationProperties map[string]any `json:"applicationProperties"`
	DeliveryCount         int            `json:"deliveryCount"`
	Reason                string         `json:"reason"`
	Description           string         `json:"description"`
}

func (l *Local) do(ctx context.Context, method, path string, what string) ([]byte, int, error) {
	u := l.base + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, 0, domain.Wrap(domain.CodeInternal, err, "build request to %s", u)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, 0, domain.Wrap(domain.CodeUnavailable, err, "%s", what)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, 0, domain.Wrap(domain.CodeUnavailable, err, "%s: read answer", what)
	}
	return body, resp.StatusCode, nil
}

// ListDeadLetters reads the dev host's dead-letter queue.
func (l *Local) ListDeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error) {
	what := "list the local dead-letter queue of " + queue
	body, status, err := l.do(ctx, http.MethodGet, "/admin/queues/"+url.PathEscape(queue)+"/deadletter", what)
	if err != nil {
		return nil, err
	}
	switch {
	case status == http.StatusNotFound:
		return nil, domain.Errorf(domain.CodeNotFound, "queue %s does not exist", queue)
	case status >= 300:
		return nil, domain.Wrap(domain.CodeUnavailable, fmt.Errorf("status %d: %.500s", status, body), "%s", what)
	}
	var raw []localDeadLetter
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, domain.Wrap(domain.CodeInternal, err, "%s: decode answer", what)
	}
	out := make([]DeadLetter, 0, min(len(raw), max))
	for _, d := range raw {
		if len(out) == max {
			break
		}
		// The dev host does not report the enqueue time: EnqueuedAt stays zero.
		out = append(out, described(DeadLetter{Queue: queue, SequenceNumber: d.SequenceNumber, MessageID: d.MessageID, Subject: d.Subject,
			ContentType: d.ContentType, DeliveryCount: d.DeliveryCount, Reason: d.Reason,
			Description: d.Description, ApplicationProperties: d.ApplicationProperties, Body: []byte(d.Body)}))
	}
	return out, nil
}

// ResubmitDeadLetters sends each selected dead letter as a new message, then
// deletes it from the dev host's dead-letter queue (as CompleteMessage does
// on the real one).
func (l *Local) ResubmitDeadLetters(ctx context.Context, queue string, sel Selection, by string) ([]Resubmitted, []int64, error) {
	all, err := l.ListDeadLetters(ctx, queue, resubmitMaxScan)
	if err != nil {
		return nil, nil, err
	}
	var done []Resubmitted
	found := map[int64]bool{}
	for _, dl := range all {
		if !sel.Has(dl.SequenceNumber) {
			continue
		}
		msg, res := resubmission(dl, by)
		if err := l.Publish(ctx, queue, msg); err != nil {
			return done, nil, fmt.Errorf("resubmit dead letter %d (%s): %w", dl.SequenceNumber, dl.MessageID, err)
		}
		path := "/admin/queues/" + url.PathEscape(queue) + "/deadletter/" + strconv.FormatInt(dl.SequenceNumber, 10)
		what := fmt.Sprintf("remove dead letter %d of %s after resubmitting it as %s", dl.SequenceNumber, queue, msg.ID)
		body, status, err := l.do(ctx, http.MethodDelete, path, what)
		if err != nil {
			return done, nil, err
		}
		if status >= 300 && status != http.StatusNotFound { // 404: removed meanwhile by a concurrent resubmit
			return done, nil, domain.Wrap(domain.CodeUnavailable, fmt.Errorf("status %d: %.500s", status, body), "%s", what)
		}
		found[dl.SequenceNumber] = true
		done = append(done, res)
	}
	return done, missingOf(sel, found), nil
}
