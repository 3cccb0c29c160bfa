package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

const maxAdminBody = 8 << 20

func (h *Host) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/functions/{name}", h.handleInvokeFunction)
	mux.HandleFunc("GET /admin/functions", h.handleListFunctions)
	mux.HandleFunc("POST /admin/queues/{queue}/messages", h.handleSendMessages)
	mux.HandleFunc("GET /admin/queues", h.handleListQueues)
	mux.HandleFunc("GET /admin/queues/{queue}/deadletter", h.handleDeadLetters)
	mux.HandleFunc("DELETE /admin/queues/{queue}/deadletter/{sequenceNumber}", h.handleDeleteDeadLetter)
	mux.HandleFunc("GET /admin/host/status", h.handleStatus)
	h.topicRoutes(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func readAdminBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxAdminBody)
		} else {
			writeError(w, http.StatusBadRequest, "read request body: %v", err)
		}
		return nil, false
	}
	return body, true
}

// decodeObject reads a JSON object into its raw fields, rejecting fields not in allowed.
func decodeObject(raw []byte, where string, allowed ...string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fmt.Errorf("%smust be a JSON object: %v", where, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%sunexpected data after the JSON object", where)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !containsExact(allowed, k) {
			return nil, fmt.Errorf("%s%s: unknown field (allowed: %s)", where, k, strings.Join(allowed, ", "))
		}
	}
	return fields, nil
}

func containsExact(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// stringField decodes an optional string field; null counts as absent.
func stringField(fields map[string]json.RawMessage, name, where string) (string, bool, error) {
	raw, ok := fields[name]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%s%s: must be a string", where, name)
	}
	return s, true, nil
}

// handleInvokeFunction is the host's admin invoke: {"input":"..."} → 202.
func (h *Host) handleInvokeFunction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	fn, ok := h.byName[strings.ToLower(name)]
	if !ok {
		writeError(w, http.StatusNotFound, "no function named %q", name)
		return
	}
	body, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	input := ""
	if len(bytes.TrimSpace(body)) > 0 {
		fields, err := decodeObject(body, "body: ", "input")
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if input, _, err = stringField(fields, "input", ""); err != nil {
			writeError(w, http.StatusBadRequest, "input: must be a string holding the message body (JSON-encode the message into it, as the Functions host's admin API expects)")
			return
		}
	}
	switch fn.Trigger {
	case triggerServiceBus:
		// The queue functions read JSON messages: an empty or non-JSON input
		// would only come back as a rejection, so say what is wrong here.
		if strings.TrimSpace(input) == "" {
			writeError(w, http.StatusBadRequest,
				"input: empty. %s reads JSON messages from queue %q: send {\"input\": \"<the message JSON, as a string>\"} "+
					"(go run ./cmd/provision does this for provisioning requests)", fn.Name, fn.QueueName)
			return
		}
		if !json.Valid([]byte(input)) {
			writeError(w, http.StatusBadRequest,
				"input: not JSON. %s reads JSON messages from queue %q: send {\"input\": \"<the message JSON, as a string>\"}", fn.Name, fn.QueueName)
			return
		}
		id, _, err := h.EnqueueID(fn.QueueName, Message{Body: input})
		if err != nil {
			writeError(w, http.StatusBadRequest, "input: %v", err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"messageId": id, "queue": fn.QueueName})
	case triggerTimer:
		if !h.startInvocation() {
			writeError(w, http.StatusServiceUnavailable, "host is %s", h.currentState())
			return
		}
		go func() {
			defer h.invocations.Done()
			h.fireTimer(fn, time.Now().UTC(), false, false)
		}()
		writeJSON(w, http.StatusAccepted, map[string]string{"function": fn.Name,
			"note": "runs in the background; the local host logs its result and the handler's log lines (function=" + fn.Name + ")"})
	default:
		writeError(w, http.StatusBadRequest, "function %q is an HTTP function: call %s directly", fn.Name, describe(fn, h.hostCfg.RoutePrefix))
	}
}

func (h *Host) handleListFunctions(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		Name    string `json:"name"`
		Trigger string `json:"trigger"`
		Detail  string `json:"detail"`
	}
	out := make([]entry, 0, len(h.functions))
	for _, fn := range h.functions {
		out = append(out, entry{Name: fn.Name, Trigger: fn.Trigger, Detail: describe(fn, h.hostCfg.RoutePrefix)})
	}
	writeJSON(w, http.StatusOK, out)
}

var adminMessageFields = []string{
	"messageId", "body", "contentType", "correlationId", "subject", "applicationProperties", "scheduledEnqueueTime",
}

// parseAdminMessage reads one message object strictly; errors name the field.
func parseAdminMessage(raw []byte, where string) (Message, error) {
	var m Message
	fields, err := decodeObject(raw, where, adminMessageFields...)
	if err != nil {
		return m, err
	}
	if _, ok := fields["body"]; !ok {
		return m, fmt.Errorf("%sbody: required (a string; JSON-encode structured payloads into it)", where)
	}
	if rawBody := bytes.TrimSpace(fields["body"]); len(rawBody) > 0 && rawBody[0] != '"' {
		return m, fmt.Errorf("%sbody: must be a string (JSON-encode structured payloads into it)", where)
	}
	for name, dst := range map[string]*string{
		"messageId": &m.MessageID, "body": &m.Body, "contentType": &m.ContentType,
		"correlationId": &m.CorrelationID, "subject": &m.Subject,
	} {
		if *dst, _, err = stringField(fields, name, where); err != nil {
			return m, err
		}
	}
	if raw, ok := fields["applicationProperties"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m.ApplicationProperties); err != nil {
			return m, fmt.Errorf("%sapplicationProperties: must be an object", where)
		}
	}
	if s, set, err := stringField(fields, "scheduledEnqueueTime", where); err != nil {
		return m, err
	} else if set && s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return m, fmt.Errorf("%sscheduledEnqueueTime: %q is not an RFC 3339 time like 2025-01-02T15:04:05Z", where, s)
		}
		m.ScheduledEnqueueTime = t
	}
	return m, nil
}

type sendResult struct {
	MessageID string `json:"messageId"`
	Duplicate bool   `json:"duplicate"`
}

// handleSendMessages accepts one message object (201, or 200 when a duplicate) or an
// array of them (201 with a list; validated all-or-nothing).
func (h *Host) handleSendMessages(w http.ResponseWriter, r *http.Request) {
	queueName := r.PathValue("queue")
	body, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	trimmed := bytes.TrimSpace(body)
	batch := len(trimmed) > 0 && trimmed[0] == '['
	var raws []json.RawMessage
	if batch {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			writeError(w, http.StatusBadRequest, "body: invalid JSON array: %v", err)
			return
		}
		if len(raws) == 0 {
			writeError(w, http.StatusBadRequest, "body: empty batch")
			return
		}
	} else {
		raws = []json.RawMessage{trimmed}
	}
	msgs := make([]Message, len(raws))
	for i, raw := range raws {
		where := ""
		if batch {
			where = fmt.Sprintf("[%d].", i)
		}
		m, err := parseAdminMessage(raw, where)
		if err == nil {
			err = validateMessage(m, h.cfg.MaxMessageSize)
			if err != nil {
				err = fmt.Errorf("%s%w", where, err)
			}
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if m.MessageID == "" {
			m.MessageID = uuid.NewString()
		}
		msgs[i] = m
	}
	results := make([]sendResult, len(msgs))
	for i, m := range msgs {
		dup, err := h.Enqueue(queueName, m)
		if err != nil { // validated above; only an empty queue name gets here
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		results[i] = sendResult{MessageID: m.MessageID, Duplicate: dup}
	}
	switch {
	case batch:
		writeJSON(w, http.StatusCreated, results)
	case results[0].Duplicate:
		writeJSON(w, http.StatusOK, results[0])
	default:
		writeJSON(w, http.StatusCreated, results[0])
	}
}

func (h *Host) handleListQueues(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.AllQueueStats())
}

func (h *Host) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queue")
	if _, ok := h.existingQueue(name); !ok {
		writeError(w, http.StatusNotFound, "no queue named %q", name)
		return
	}
	dl := h.DeadLetters(name)
	if dl == nil {
		dl = []DeadLetter{}
	}
	writeJSON(w, http.StatusOK, dl)
}

func (h *Host) handleStatus(w http.ResponseWriter, _ *http.Request) {
	names := make([]string, 0, len(h.functions))
	for _, fn := range h.functions {
		names = append(names, fn.Name)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            h.id,
		"state":         h.currentState(),
		"version":       hostVersion,
		"processUptime": time.Since(h.created).Milliseconds(),
		"handlerUrl":    h.gate.url(),
		"handlerUp":     h.gate.isUp(),
		"functions":     names,
	})
}
