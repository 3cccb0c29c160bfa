package funchost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	hostVersion = "4.0.0-devhost"
	// UserAgent is what the emulator sends on non-HTTP invocations; forwarded
	// HTTP requests get it appended to the caller's User-Agent.
	UserAgent = "Azure-Functions-Host/" + hostVersion

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

// metadata is the host's case-insensitive binding-data dictionary: a later
// Set with a key that differs only in case replaces the value and keeps the
// first spelling, as a .NET Dictionary with OrdinalIgnoreCase does.
type metadata struct {
	keys   map[string]string // lower-case → first spelling
	values map[string]any    // first spelling → value
}

func newMetadata() *metadata { return &metadata{keys: map[string]string{}, values: map[string]any{}} }

func (m *metadata) set(k string, v any) {
	lk := strings.ToLower(k)
	if first, ok := m.keys[lk]; ok {
		m.values[first] = v
		return
	}
	m.keys[lk] = k
	m.values[k] = v
}

// serviceBusPayload builds {"Data":..,"Metadata":..} for a serviceBusTrigger invocation,
// with the real host's encoding quirks (functions-custom-handler reference §2).
func serviceBusPayload(fn *function, env *envelope, lockToken string, now time.Time) map[string]any {
	md := newMetadata()
	m := env.msg
	md.set("DeliveryCount", strconv.Itoa(env.deliveryCount))
	md.set("LockToken", jsonString(lockToken))
	md.set("MessageId", jsonString(m.MessageID))
	md.set("SequenceNumber", strconv.FormatInt(env.sequence, 10))
	md.set("EnqueuedTimeUtc", formatOffsetLess(env.enqueuedAt))
	md.set("EnqueuedTime", env.enqueuedAt.UTC().Format(offsetLayout))
	expires := env.enqueuedAt.Add(defaultMessageTTL)
	md.set("ExpiresAtUtc", formatOffsetLess(expires))
	md.set("ExpiresAt", expires.UTC().Format(offsetLayout))
	if m.ContentType != "" {
		md.set("ContentType", jsonString(m.ContentType))
	}
	if m.CorrelationID != "" {
		md.set("CorrelationId", jsonString(m.CorrelationID))
	}
	if m.Subject != "" {
		md.set("Subject", jsonString(m.Subject))
		md.set("Label", jsonString(m.Subject))
	}
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	md.set("ApplicationProperties", props)
	md.set("UserProperties", props)
	md.set("MessageActions", map[string]any{})
	md.set("ReceiveActions", map[string]any{})
	// ServiceBusClient as the extension exposes it ([SBX] ServiceBusTriggerBindingStrategy.cs).
	md.set("Client", map[string]any{
		"FullyQualifiedNamespace": localNamespace,
		"IsClosed":                false,
		"TransportType":           0, // AmqpTcp
		"Identifier":              clientIdentifier,
	})
	// Top-level properties of a JSON object body are copied into the same
	// case-insensitive dictionary after the system keys, so a body key named
	// like a system key overwrites it; arrays are skipped, primitives are
	// serialized twice (WebJobs Utility.ApplyBindingData: bindingData[key] = value).
	for _, p := range bodyProperties(m.Body) {
		md.set(p.key, p.value)
	}
	// The host drops binding data whose key ends in "trigger".
	for k := range md.values {
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			delete(md.values, k)
		}
	}
	md.values["sys"] = sysMetadata(fn.Name, now)
	return map[string]any{
		// The body is decoded to a string, JSON-serialized by
		// ScriptInvocationContextExtensions and serialized again by the
		// formatter: always exactly two levels of JSON string ([HOST]
		// ScriptInvocationContextExtensionsTests.cs).
		"Data":     map[string]any{fn.BindingName: jsonString(m.Body)},
		"Metadata": md.values,
	}
}

const (
	localNamespace   = "devhost.servicebus.local"
	clientIdentifier = "devhost-servicebus-client"
)

type bodyProperty struct {
	key   string
	value any
}

// bodyProperties returns a JSON object body's top-level properties in order,
// converted as the host does: objects stay objects, arrays and nulls are
// dropped, primitives become their .NET string form serialized twice
// (2 → "\"2\"", true → "\"True\"").
func bodyProperties(body string) []bodyProperty {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []bodyProperty
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil
		}
		if v, ok := bindingDataValue(raw); ok {
			out = append(out, bodyProperty{key: key, value: v})
		}
	}
	return out
}

func bindingDataValue(raw json.RawMessage) (any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	var text string
	switch raw[0] {
	case '{':
		return raw, true
	case '[':
		return nil, false
	case 'n':
		return nil, false
	case 't':
		text = "True"
	case 'f':
		text = "False"
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			return nil, false
		}
	default:
		text = string(raw)
	}
	return jsonString(text), true
}

// timerStatus mirrors the ScheduleStatus the host keeps between runs
// (zero Last and LastUpdated before the first run).
type timerStatus struct {
	Last, Next, LastUpdated time.Time
}

// formatTimerTime writes a ScheduleStatus time as WebJobs.Extensions 5.x does:
// with an explicit +00:00 offset; the zero time is 0001-01-01T00:00:00+00:00.
func formatTimerTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.9999999") + "+00:00"
}

func timerPayload(fn *function, st timerStatus, pastDue bool, now time.Time) map[string]any {
	return map[string]any{
		"Data": map[string]any{fn.BindingName: map[string]any{
			"Schedule": map[string]any{"AdjustForDST": true},
			"ScheduleStatus": map[string]any{
				"Last":        formatTimerTime(st.Last),
				"Next":        formatTimerTime(st.Next),
				"LastUpdated": formatTimerTime(st.LastUpdated),
			},
			"IsPastDue": pastDue,
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.gate.url()+"/"+fn.Name, bytes.NewReader(body))
	if err != nil {
		return invocationOutcome{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(headerInvocationID, invocationID)
	req.Header.Set(headerHostVersion, hostVersion)
	req.Header.Set("User-Agent", UserAgent)
	// The host streams the payload: chunked, no Content-Length (reference §1).
	req.ContentLength = -1
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
		return out
	}
	if out.ok() {
		out.Err = h.checkResultBody(ctx, resp.Header.Get("Content-Type"), respBody)
	}
	return out
}

// checkResultBody treats a 2xx answer as the host's ReadAsAsync<HttpScriptInvocationResult>
// does ([HOST] DefaultHttpWorkerService.cs): an empty (or null) body reads as a null
// result that never completes the invocation, so it hangs until functionTimeout; a
// body that no JSON formatter reads (another Content-Type) fails the invocation.
func (h *Host) checkResultBody(ctx context.Context, contentType string, body []byte) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && !isJSONMediaType(contentType) {
		return fmt.Errorf("handler answered 2xx with Content-Type %q: the host reads only JSON (application/json) results, so the invocation fails", contentType)
	}
	if len(trimmed) == 0 || string(trimmed) == "null" {
		<-ctx.Done() // the invocation context carries functionTimeout
		return fmt.Errorf("handler answered 2xx with an empty body: the host never gets a result, so the invocation timed out after functionTimeout (%s)", h.hostCfg.FunctionTimeout)
	}
	return nil
}

// isJSONMediaType matches what JsonMediaTypeFormatter reads.
func isJSONMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
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
