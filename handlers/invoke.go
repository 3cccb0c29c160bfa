package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// InvokeRequest is what the Functions host POSTs to /{FunctionName} for
// non-HTTP triggers (reference/functions-custom-handler.md §2).
type InvokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// InvokeResponse is the handler's answer; Outputs keys are output binding names.
type InvokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue,omitempty"`
}

// maxInvokeBytes bounds an invocation payload: the message body (capped by
// domain.MaxMessageBytes, but a 2 MB body must still be read to be rejected)
// plus metadata, which repeats the body's top-level properties.
const maxInvokeBytes = 8 << 20

func readInvokeRequest(r *http.Request) (*InvokeRequest, error) {
	var req InvokeRequest
	body := http.MaxBytesReader(nil, r.Body, maxInvokeBytes)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		return nil, fmt.Errorf("decode invocation payload: %w", err)
	}
	dropBodyEchoes(&req)
	return &req, nil
}

// dropBodyEchoes removes the Metadata keys a JSON message body put there. The
// host copies a body's top-level properties into the same case-insensitive
// dictionary as the system keys, after them, so a body key "messageId" or
// "deliveryCount" replaces the system value under its system spelling
// (reference §2). Such a value is the customer's data, not Service Bus's:
// without it a reader sees the key as absent rather than a forged value.
func dropBodyEchoes(req *InvokeRequest) {
	if len(req.Metadata) == 0 {
		return
	}
	for _, raw := range req.Data {
		var fields map[string]json.RawMessage
		if json.Unmarshal(queueBody(raw), &fields) != nil {
			continue
		}
		for bodyKey := range fields {
			for mdKey := range req.Metadata {
				if mdKey != "sys" && strings.EqualFold(mdKey, bodyKey) {
					delete(req.Metadata, mdKey)
				}
			}
		}
	}
}

// queueBody extracts a Service Bus message body from Data.<binding>. The real
// host sends exactly two levels of JSON string around the body (base64 with
// dataType binary); older emulators sent one level or the JSON value itself.
// Unwrap defensively.
func queueBody(raw json.RawMessage) []byte {
	cur := bytes.TrimSpace(raw)
	for range 4 {
		if len(cur) == 0 || cur[0] != '"' {
			return cur
		}
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return cur
		}
		trimmed := strings.TrimSpace(s)
		switch {
		case strings.HasPrefix(trimmed, `"`) && json.Valid([]byte(trimmed)):
			cur = []byte(trimmed) // escaped twice
		case (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")):
			return []byte(s)
		default:
			if decoded, ok := decodeBase64Body(trimmed); ok {
				return decoded
			}
			return []byte(s)
		}
	}
	return cur
}

// decodeBase64Body accepts base64 only when the result is clearly a JSON body
// the host had to encode (a plain string such as "test" is valid base64 too).
func decodeBase64Body(s string) ([]byte, bool) {
	if len(s) < 4 || len(s)%4 != 0 {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, false
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return b, true
	}
	return nil, false
}

// metaString reads a metadata value the host serialized into a JSON string
// (a string arrives as "\"abc\"", a number as "1").
func metaString(md map[string]json.RawMessage, key string) string {
	raw, ok := md[key]
	if !ok {
		return ""
	}
	cur := bytes.TrimSpace(raw)
	for range 3 {
		if len(cur) == 0 || cur[0] != '"' {
			break
		}
		var s string
		if json.Unmarshal(cur, &s) != nil {
			break
		}
		cur = []byte(s)
	}
	if string(cur) == "null" {
		return ""
	}
	return string(cur)
}

// MessageInfo is the Service Bus metadata the handler uses.
type MessageInfo struct {
	MessageID     string
	DeliveryCount int
	Kind          string // application property "kind"
}

func messageInfo(md map[string]json.RawMessage) MessageInfo {
	info := MessageInfo{MessageID: metaString(md, "MessageId")}
	info.DeliveryCount, _ = strconv.Atoi(metaString(md, "DeliveryCount"))
	for _, key := range []string{"ApplicationProperties", "UserProperties"} {
		var props map[string]any
		if raw, ok := md[key]; ok && json.Unmarshal(raw, &props) == nil {
			if k, ok := props["kind"].(string); ok {
				info.Kind = k
				break
			}
		}
	}
	return info
}

// TimerInfo is the timer trigger payload.
type TimerInfo struct {
	IsPastDue bool
	Last      time.Time
	Next      time.Time
}

// hostTimeLayouts covers the host's offset-less DateTimes and RFC 3339.
var hostTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"}

func parseHostTime(s string) time.Time {
	for _, layout := range hostTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

func timerInfo(raw json.RawMessage) TimerInfo {
	body := queueBody(raw)
	var p struct {
		IsPastDue      bool
		ScheduleStatus *struct{ Last, Next string }
	}
	if json.Unmarshal(body, &p) != nil {
		return TimerInfo{}
	}
	info := TimerInfo{IsPastDue: p.IsPastDue}
	if p.ScheduleStatus != nil {
		info.Last = parseHostTime(p.ScheduleStatus.Last)
		info.Next = parseHostTime(p.ScheduleStatus.Next)
	}
	return info
}

// writeInvokeOK answers a successful invocation.
func writeInvokeOK(w http.ResponseWriter, logs []string, outputs map[string]any) {
	if outputs == nil {
		outputs = map[string]any{}
	}
	if logs == nil {
		logs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(InvokeResponse{Outputs: outputs, Logs: logs})
}

// writeInvokeFailure fails the invocation so the host abandons the message
// (Service Bus redelivers it). The host discards the body, so the reason is
// also logged by the caller.
func writeInvokeFailure(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_ = json.NewEncoder(w).Encode(InvokeResponse{
		Outputs: map[string]any{},
		Logs:    []string{"failed (will be retried): " + err.Error()},
	})
}

// bindingData returns Data[name], or the only Data entry when the name differs
// (the binding name is set in function.json, which tests check separately).
func bindingData(req *InvokeRequest, name string) (json.RawMessage, error) {
	if raw, ok := req.Data[name]; ok {
		return raw, nil
	}
	return nil, domain.FieldError("Data."+name, "is missing from the invocation payload")
}

// failInvocation answers non-2xx so the host abandons the message. The host
// discards the body, so the reason is logged here.
func (s *Server) failInvocation(w http.ResponseWriter, function string, err error) {
	s.Logger.Error("invocation failed; the message will be redelivered", "function", function, "err", err, "transient", domain.IsTransient(err))
	writeInvokeFailure(w, err)
}
