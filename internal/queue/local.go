package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Local publishes to the local dev host's in-process queues
// (POST {base}/admin/queues/{queue}/messages), which apply the same duplicate
// detection and scheduled delivery as Service Bus.
type Local struct {
	base   string
	client *http.Client
}

// NewLocal publishes to the dev host at baseURL (e.g. http://127.0.0.1:7071).
func NewLocal(baseURL string, client *http.Client) *Local {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Local{base: strings.TrimRight(baseURL, "/"), client: client}
}

type localMessage struct {
	MessageID             string         `json:"messageId"`
	Body                  string         `json:"body"`
	ContentType           string         `json:"contentType"`
	Subject               string         `json:"subject,omitempty"`
	ApplicationProperties map[string]any `json:"applicationProperties,omitempty"`
	ScheduledEnqueueTime  string         `json:"scheduledEnqueueTime,omitempty"`
}

// Publish posts the messages as one batch.
func (l *Local) Publish(ctx context.Context, queue string, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	batch := make([]localMessage, len(msgs))
	for i, m := range msgs {
		lm := localMessage{MessageID: m.ID, Body: string(m.Body), ContentType: contentType(m), Subject: m.Kind, ApplicationProperties: properties(m)}
		if !m.ScheduledAt.IsZero() {
			lm.ScheduledEnqueueTime = m.ScheduledAt.UTC().Format(time.RFC3339Nano)
		}
		batch[i] = lm
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "encode messages for queue %s", queue)
	}
	u := l.base + "/admin/queues/" + url.PathEscape(queue) + "/messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "build request to %s", u)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return domain.Wrap(domain.CodeUnavailable, err, "send %d message(s) to local queue %s", len(msgs), queue)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return domain.Wrap(domain.CodeUnavailable, fmt.Errorf("status %d: %s", resp.StatusCode, detail), "send to local queue %s", queue)
	default:
		return domain.Wrap(domain.CodeInternal, fmt.Errorf("status %d: %s", resp.StatusCode, detail), "send to local queue %s", queue)
	}
}

// Close releases nothing: the HTTP client has no per-publisher state.
func (l *Local) Close(context.Context) error { return nil }
