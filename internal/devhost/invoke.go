package devhost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	hostVersion = "4.0.0-devhost"
	// UserAgent is what the emulator sends on non-HTTP invocations.
	UserAgent = "Azure-Functions-Host/4.x (devhost)"

	headerInvocationID = "X-Azure-Functions-InvocationId"
	headerHostVersion  = "X-Azure-Functions-HostVersion"

	// The host serializes DateTime values without an offset ("2023-10-12T20:13:49").
	offsetLessLayout = "2006-01-02T15:04:05"
	offsetLayout     = "2006-01-02T15:04:05-07:00"
	utcNowLayout     = "2006-01-02T15:04:05.9999999Z"

	maxResponseBody   = 64 << 20
	maxFailureExcerpt = 1024
)

// marshalJSON encodes like Newtonsoft.Json: no HTML escaping of <, > and &.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonString serializes s as a JSON string literal, as the host does for string binding data.
func jsonString(s string) string {
	b, _ := marshalJSON(s) // a string always encodes
	return string(b)
}

func formatOffsetLess(t time.Time) string { return t.UTC().Format(offsetLessLayout) }

func sysMetadata(function string, now time.Time) map[string]any {
	return map[string]any{
		"MethodName": function,
		"UtcNow":     now.UTC().Format(utcNowLayout),
		"RandGuid":   uuid.NewString(),
	}
}

// serviceBusPayload builds {"Data":..,"Metadata":..} for a serviceBusTrigger invocation,
// with the real host's encoding quirks (reference §2).
func serviceBusPayload(fn *function, env *envelope, lockToken string, now time.Time) map[string]any {
	md := map[string]any{}
	// Top-level properties of a JSON object body become binding data too; system keys win.
	var body map[string]json.RawMessage
	if json.Unmarshal([]byte(env.msg.Body), &body) == nil {
		for k, raw := range body {
			if v := bindingDataValue(raw); v != nil {
				md[k] = v
			}
		}
	}
	m := env.msg
	md["DeliveryCount"] = strconv.Itoa(env.deliveryCount)
	md["LockToken"] = jsonString(lockToken)
	md["MessageId"] = jsonString(m.MessageID)
	md["SequenceNumber"] = strconv.FormatInt(env.sequence, 10)
	md["EnqueuedTimeUtc"] = formatOffsetLess(env.enqueuedAt)
	md["EnqueuedTime"] = env.enqueuedAt.UTC().Format(offsetLayout)
	expires := env.enqueuedAt.Add(defaultMessageTTL)
	md["ExpiresAtUtc"] = formatOffsetLess(expires)
	md["ExpiresAt"] = expires.UTC().Format(offsetLayout)
	if m.ContentType != "" {
		md["ContentType"] = jsonString(m.ContentType)
	}
	if m.CorrelationID != "" {
		md["CorrelationId"] = jsonString(m.CorrelationID)
	}
	if m.Subject != "" {
		md["Subject"] = jsonString(m.Subject)
	}
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	md["ApplicationProperties"] = props
	md["UserProperties"] = props
	md["MessageActions"] = map[string]any{}
	md["ReceiveActions"] = map[string]any{}
	md["Client"] = map[string]any{}
	// The host drops binding data whose key ends in "trigger".
	for k := range md {
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			delete(md, k)
		}
	}
	md["sys"] = sysMetadata(fn.Name, now)
	return map[string]any{
		"Data":     map[string]any{fn.BindingName: m.Body},
		"Metadata": md,
	}
}

// bindingDataValue converts one body property as the host does: primitives are
// JSON-serialized into strings, objects and arrays stay as they are, nulls are dropped.
func bindingDataValue(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return jsonString(s)
	case '{', '[':
		return raw
	default:
		return string(raw)
	}
}

// timerStatus mirrors the ScheduleStatus the host keeps between runs.
type timerStatus struct {
	Last, Next, LastUpdated time.Time
}

func timerPayload(fn *function, st timerStatus, now time.Time) map[string]any {
	return map[string]any{
		"Data": map[string]any{fn.BindingName: map[string]any{
			"Schedule": map[string]any{"AdjustForDST": true},
			"ScheduleStatus": map[string]any{
				"Last":        formatOffsetLess(st.Last), // zero time gives "0001-01-01T00:00:00"
				"Next":        formatOffsetLess(st.Next),
				"LastUpdated": formatOffsetLess(st.LastUpdated),
			},
			"IsPastDue": false,
		}},
		"Metadata": map[string]any{"sys": sysMetadata(fn.Name, now)},
	}
}

// invocationOutcome is what one POST /<FunctionName> produced.
type invocationOutcome struct {
	Status int
	Body   []byte
	Err    error // transport error, timeout or invalid response
}

func (o invocationOutcome) ok() bool { return o.Err == nil && o.Status >= 200 && o.Status <= 299 }

// failure describes a failed outcome for logs and dead-letter descriptions.
func (o invocationOutcome) failure() string {
	if o.Err != nil && o.Status == 0 {
		return o.Err.Error()
	}
	excerpt := o.Body
	if len(excerpt) > maxFailureExcerpt {
		excerpt = excerpt[:maxFailureExcerpt]
	}
	msg := fmt.Sprintf("HTTP %d", o.Status)
	if o.Err != nil {
		msg += " (" + o.Err.Error() + ")"
	}
	if len(excerpt) > 0 {
		msg += ": " + string(excerpt)
	}
	return msg
}

// invoke POSTs a payload to HandlerURL/<FunctionName> like the host's
// ProcessDefaultInvocationRequest.
func (h *Host) invoke(ctx context.Context, fn *function, invocationID string, payload any) invocationOutcome {
	body, err := marshalJSON(payload)
	if err != nil {
		return invocationOutcome{Err: fmt.Errorf("encode payload: %w", err)}
	}
	if h.hostCfg.FunctionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.hostCfg.FunctionTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.handlerBase+"/"+fn.Name, bytes.NewReader(body))
	if err != nil {
		return invocationOutcome{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(headerInvocationID, invocationID)
	req.Header.Set(headerHostVersion, hostVersion)
	req.Header.Set("User-Agent", UserAgent)
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return invocationOutcome{Err: fmt.Errorf("function timed out after %s (functionTimeout)", h.hostCfg.FunctionTimeout)}
		}
		return invocationOutcome{Err: fmt.Errorf("call handler: %w", err)}
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	out := invocationOutcome{Status: resp.StatusCode, Body: respBody}
	if err != nil {
		out.Err = fmt.Errorf("read response: %w", err)
	}
	return out
}

// handlerResult is the custom handler's answer (reference §3). Newtonsoft matches
// names case-insensitively, as encoding/json does.
type handlerResult struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []json.RawMessage          `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// applyResult logs the handler's Logs and routes serviceBus Outputs. An error
// fails the invocation, as a failed output binding does in the host.
func (h *Host) applyResult(fn *function, invocationID string, body []byte) error {
	var res handlerResult
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &res); err != nil {
			return fmt.Errorf("response is not {\"Outputs\":..,\"Logs\":..,\"ReturnValue\":..} JSON: %w", err)
		}
	}
	for _, raw := range res.Logs {
		var line string
		if json.Unmarshal(raw, &line) != nil {
			line = string(raw)
		}
		h.logger.Info(line, "function", fn.Name, "invocationId", invocationID, "source", "handler")
	}

	type pending struct {
		queue string
		msgs  []Message
	}
	var sends []pending
	used := map[string]bool{}
	for _, ob := range fn.Outputs {
		var raw json.RawMessage
		for k, v := range res.Outputs {
			if strings.EqualFold(k, ob.Name) {
				raw, used[k] = v, true
			}
		}
		if raw == nil && ob.Name == "$return" {
			raw = res.ReturnValue
		}
		msgs, err := h.outputMessages(fn, invocationID, ob, raw)
		if err != nil {
			return err
		}
		for i := range msgs {
			if err := validateMessage(msgs[i], h.cfg.MaxMessageSize); err != nil {
				return fmt.Errorf("output binding %q: %w", ob.Name, err)
			}
		}
		sends = append(sends, pending{queue: ob.QueueName, msgs: msgs})
	}
	for k := range res.Outputs {
		if !used[k] {
			h.logger.Warn("handler returned an output that names no serviceBus output binding; ignored",
				"function", fn.Name, "invocationId", invocationID, "output", k)
		}
	}
	for _, s := range sends {
		for _, m := range s.msgs {
			if _, err := h.Enqueue(s.queue, m); err != nil {
				return fmt.Errorf("output to queue %q: %w", s.queue, err)
			}
		}
	}
	return nil
}

// outputMessages turns one output value into messages: an array is several
// messages, a string is the body, anything else is its JSON.
func (h *Host) outputMessages(fn *function, invocationID string, ob outputBinding, raw json.RawMessage) ([]Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("output binding %q: %w", ob.Name, err)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var msgs []Message
	for _, item := range items {
		item = bytes.TrimSpace(item)
		if string(item) == "null" {
			continue
		}
		var body string
		if item[0] == '"' {
			if err := json.Unmarshal(item, &body); err != nil {
				return nil, fmt.Errorf("output binding %q: %w", ob.Name, err)
			}
			if looksBase64(body) {
				h.logger.Warn("string output is valid base64: the real Functions host would base64-decode it "+
					"before sending (emit a JSON object instead)", "function", fn.Name, "invocationId", invocationID, "output", ob.Name)
			}
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, item); err != nil {
				return nil, fmt.Errorf("output binding %q: %w", ob.Name, err)
			}
			body = buf.String()
		}
		msgs = append(msgs, Message{Body: body})
	}
	return msgs, nil
}

func looksBase64(s string) bool {
	if s == "" || len(s)%4 != 0 {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}
