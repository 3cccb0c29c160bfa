package funchost

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

var (
	uuidPattern        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	offsetLessJSON     = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"$`)
	quotedUUIDInString = regexp.MustCompile(`^"\\"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\""$`)
)

func TestServiceBusPayloadShape(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Outputs":{},"Logs":["hello from handler"],"ReturnValue":null}`)
	}, nil)

	body := `{"tenantId":"t1","count":2,"ok":true,"nested":{"a":1},"gone":null,"retrigger":"x","list":[1,2],"html":"<b>&","deliveryCount":7,"subject":"from-body","applicationProperties":{"kind":"spoof"}}`
	before := time.Now().UTC().Truncate(time.Second)
	if dup, err := f.h.Enqueue("provisioning", Message{
		MessageID: "abc", Body: body, ContentType: "application/json", CorrelationID: "corr-1", Subject: "tenant.created",
		ApplicationProperties: map[string]any{"source": "crm", "n": 1},
	}); err != nil || dup {
		t.Fatalf("Enqueue = %v, %v", dup, err)
	}
	waitIdle(t, f.h)

	reqs := f.fake.requests("/ProvisionTenant")
	if len(reqs) != 1 {
		t.Fatalf("got %d invocations, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost {
		t.Errorf("method = %s", r.Method)
	}
	if got := r.Header.Get("User-Agent"); got != "Azure-Functions-Host/4.0.0-devhost" {
		t.Errorf("User-Agent = %q", got)
	}
	invocationID := r.Header.Get("X-Azure-Functions-InvocationId")
	if !uuidPattern.MatchString(invocationID) {
		t.Errorf("X-Azure-Functions-InvocationId = %q", invocationID)
	}
	inv := r.invocation(t)

	// Data.msg is the body inside exactly two levels of JSON string.
	if data := queueBody(t, inv.Data["msg"]); data != body {
		t.Errorf("Data.msg = %s, want the body in two levels of JSON string", inv.Data["msg"])
	}
	if want := jsonNoHTML(t, jsonNoHTML(t, body)); string(inv.Data["msg"]) != want {
		t.Errorf("Data.msg = %s, want %s", inv.Data["msg"], want)
	}
	if r.Header.Get("Content-Length") != "" {
		t.Errorf("invocation sent with Content-Length %q; the host streams it chunked", r.Header.Get("Content-Length"))
	}
	if len(inv.Data) != 1 {
		t.Errorf("Data has keys %v, want only msg", keys(inv.Data))
	}

	md := inv.Metadata
	exact := map[string]string{
		"SequenceNumber": `"1"`,
		"MessageId":      `"\"abc\""`,
		"ContentType":    `"\"application/json\""`,
		"CorrelationId":  `"\"corr-1\""`,
		"Label":          `"\"tenant.created\""`,
		"UserProperties": `{"n":1,"source":"crm"}`,
		"MessageActions": `{}`,
		"ReceiveActions": `{}`,
		"Client":         `{"FullyQualifiedNamespace":"devhost.servicebus.local","Identifier":"devhost-servicebus-client","IsClosed":false,"TransportType":0}`,
		// Body properties copied into Metadata, primitives serialized twice
		// in their .NET string form, objects kept.
		"tenantId": `"\"t1\""`,
		"count":    `"\"2\""`,
		"ok":       `"\"True\""`,
		"nested":   `{"a":1}`,
		"html":     `"\"<b>&\""`,
		// Body keys overwrite system keys case-insensitively; the system spelling stays.
		"DeliveryCount":         `"\"7\""`,
		"Subject":               `"\"from-body\""`,
		"ApplicationProperties": `{"kind":"spoof"}`,
	}
	for k, want := range exact {
		if got := string(md[k]); got != want {
			t.Errorf("Metadata.%s = %s, want %s", k, got, want)
		}
	}
	for _, k := range []string{"deliveryCount", "subject", "applicationProperties"} {
		if _, ok := md[k]; ok {
			t.Errorf("Metadata has both %s and its system spelling; the host's dictionary is case-insensitive", k)
		}
	}
	if !quotedUUIDInString.MatchString(string(md["LockToken"])) {
		t.Errorf("Metadata.LockToken = %s, want a JSON-serialized UUID in a string", md["LockToken"])
	}
	for _, k := range []string{"EnqueuedTimeUtc", "ExpiresAtUtc"} {
		if !offsetLessJSON.MatchString(string(md[k])) {
			t.Errorf("Metadata.%s = %s, want an offset-less time", k, md[k])
		}
	}
	var enq string
	_ = json.Unmarshal(md["EnqueuedTimeUtc"], &enq)
	enqAt, err := time.Parse("2006-01-02T15:04:05", enq)
	if err != nil || enqAt.Before(before) || enqAt.After(time.Now().UTC()) {
		t.Errorf("EnqueuedTimeUtc %q (%v) not between %s and now", enq, err, before)
	}
	for _, k := range []string{"gone", "retrigger", "list", "DeadLetterSource", "SessionId", "ReplyTo"} {
		if _, ok := md[k]; ok {
			t.Errorf("Metadata.%s present, want absent", k)
		}
	}
	var sys struct {
		MethodName, UtcNow, RandGuid string
	}
	if err := json.Unmarshal(md["sys"], &sys); err != nil {
		t.Fatalf("Metadata.sys = %s: %v", md["sys"], err)
	}
	if sys.MethodName != "ProvisionTenant" || !uuidPattern.MatchString(sys.RandGuid) {
		t.Errorf("sys = %+v", sys)
	}
	if _, err := time.Parse(time.RFC3339Nano, sys.UtcNow); err != nil {
		t.Errorf("sys.UtcNow = %q: %v", sys.UtcNow, err)
	}

	// The handler's Logs are logged at Info with the function and invocation id.
	found := false
	for _, rec := range f.logs.Records(t) {
		if rec["msg"] == "hello from handler" {
			found = rec["level"] == "INFO" && rec["function"] == "ProvisionTenant" && rec["invocationId"] == invocationID
		}
	}
	if !found {
		t.Errorf("handler log line not logged at INFO with function and invocationId:\n%s", f.logs.String())
	}
	if s := f.h.QueueStats("provisioning"); s.Completed != 1 || s.Active != 0 || s.InFlight != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestServiceBusOptionalMetadataAbsent(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	if _, err := f.h.Enqueue("provisioning", Message{Body: "plain text"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)
	reqs := f.fake.requests("/ProvisionTenant")
	if len(reqs) != 1 {
		t.Fatalf("got %d invocations", len(reqs))
	}
	md := reqs[0].invocation(t).Metadata
	for _, k := range []string{"ContentType", "CorrelationId", "Subject"} {
		if _, ok := md[k]; ok {
			t.Errorf("Metadata.%s present for an unset property", k)
		}
	}
	if !quotedUUIDInString.MatchString(string(md["MessageId"])) {
		t.Errorf("generated MessageId = %s, want a serialized UUID", md["MessageId"])
	}
	if string(md["ApplicationProperties"]) != "{}" {
		t.Errorf("ApplicationProperties = %s, want {}", md["ApplicationProperties"])
	}
}

func TestFailTwiceThenSucceed(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, r *http.Request, b []byte) {
		if calls.Add(1) <= 2 {
			http.Error(w, `{"Outputs":{},"Logs":["discarded"]}`, http.StatusInternalServerError)
			return
		}
		okResponse(w, r, b)
	}, nil)
	if _, err := f.h.Enqueue("provisioning", Message{MessageID: "m1", Body: "{}"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)

	var counts, tokens []string
	for _, r := range f.fake.requests("/ProvisionTenant") {
		md := r.invocation(t).Metadata
		counts = append(counts, string(md["DeliveryCount"]))
		tokens = append(tokens, string(md["LockToken"]))
		if string(md["MessageId"]) != `"\"m1\""` {
			t.Errorf("MessageId = %s", md["MessageId"])
		}
	}
	if strings.Join(counts, ",") != `"1","2","3"` {
		t.Errorf("DeliveryCount sequence = %v, want 1,2,3", counts)
	}
	if len(tokens) == 3 && (tokens[0] == tokens[1] || tokens[1] == tokens[2]) {
		t.Errorf("lock tokens reused across deliveries: %v", tokens)
	}
	s := f.h.QueueStats("provisioning")
	if s.Completed != 1 || s.DeadLettered != 0 || s.Deliveries != 3 {
		t.Errorf("stats = %+v", s)
	}
	if strings.Contains(f.logs.String(), `"msg":"discarded"`) {
		t.Error("Logs of a failed invocation were logged; the host discards them")
	}
}

func TestDeadLetterAfterMaxDeliveryCount(t *testing.T) {
	t.Parallel()
	longBody := strings.Repeat("x", 3000)
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, longBody)
	}, func(c *Config) { c.MaxDeliveryCount = 4 })
	if _, err := f.h.Enqueue("provisioning", Message{MessageID: "poison", Body: `{"bad":true}`, Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)

	if n := len(f.fake.requests("/ProvisionTenant")); n != 4 {
		t.Errorf("deliveries = %d, want MaxDeliveryCount (4)", n)
	}
	dl := f.h.DeadLetters("provisioning")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %+v", dl)
	}
	d := dl[0]
	if d.MessageID != "poison" || d.Body != `{"bad":true}` || d.Subject != "s" || d.DeliveryCount != 4 ||
		d.Reason != "MaxDeliveryCountExceeded" || d.DeadLetteredAt.IsZero() {
		t.Errorf("dead letter = %+v", d)
	}
	if !strings.Contains(d.Description, "HTTP 503") {
		t.Errorf("Description %q lacks the last status", d.Description)
	}
	if n := strings.Count(d.Description, "x"); n != 1024 {
		t.Errorf("Description holds %d bytes of the response body, want 1024", n)
	}
	s := f.h.QueueStats("provisioning")
	if s.DeadLettered != 1 || s.Active != 0 || s.Completed != 0 || s.Deliveries != 4 {
		t.Errorf("stats = %+v", s)
	}

	resp := do(t, http.MethodGet, f.h.URL()+"/admin/queues/provisioning/deadletter", "", nil)
	var got []DeadLetter
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || resp.Status != 200 || len(got) != 1 || got[0].MessageID != "poison" {
		t.Errorf("GET deadletter = %d %s (%v)", resp.Status, resp.Body, err)
	}
}

func TestHandlerUnreachableAbandonsMessage(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, func(c *Config) { c.MaxDeliveryCount = 2 })
	f.fake.srv.Close()
	if _, err := f.h.Enqueue("provisioning", Message{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)
	dl := f.h.DeadLetters("provisioning")
	if len(dl) != 1 || dl[0].DeliveryCount != 2 || !strings.Contains(dl[0].Description, "call handler") {
		t.Errorf("dead letters = %+v", dl)
	}
}

func TestFunctionTimeoutAbandons(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(_ http.ResponseWriter, r *http.Request, _ []byte) {
		<-r.Context().Done() // never answers; the host gives up
	}, func(c *Config) {
		c.MaxDeliveryCount = 1
		c.HostJSONPath = filepath.Join(t.TempDir(), "host.json")
		writeFile(t, c.HostJSONPath, `{"version":"2.0","functionTimeout":"00:00:00.2"}`)
	})
	if _, err := f.h.Enqueue("provisioning", Message{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)
	dl := f.h.DeadLetters("provisioning")
	if len(dl) != 1 || !strings.Contains(dl[0].Description, "timed out") {
		t.Errorf("dead letters = %+v", dl)
	}
}

func TestDuplicateMessageIDDropped(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	if dup, err := f.h.Enqueue("provisioning", Message{MessageID: "same", Body: "first"}); err != nil || dup {
		t.Fatalf("first Enqueue = %v, %v", dup, err)
	}
	if dup, err := f.h.Enqueue("PROVISIONING", Message{MessageID: "same", Body: "second"}); err != nil || !dup {
		t.Fatalf("second Enqueue = %v, %v; want duplicate (queue names are case-insensitive)", dup, err)
	}
	waitIdle(t, f.h)
	reqs := f.fake.requests("/ProvisionTenant")
	if len(reqs) != 1 {
		t.Fatalf("invocations = %d, want 1", len(reqs))
	}
	if data := queueBody(t, reqs[0].invocation(t).Data["msg"]); data != "first" {
		t.Errorf("delivered %q, want the first message", data)
	}
}

func TestDuplicateWindowExpires(t *testing.T) {
	t.Parallel()
	q := newQueue("q", time.Minute, 10)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if q.enqueue(Message{MessageID: "a"}, t0) {
		t.Fatal("first enqueue reported duplicate")
	}
	if !q.enqueue(Message{MessageID: "a"}, t0.Add(59*time.Second)) {
		t.Error("within the window: want duplicate")
	}
	if q.enqueue(Message{MessageID: "a"}, t0.Add(61*time.Second)) {
		t.Error("after the window: want accepted")
	}
}

func TestScheduledMessageHeldUntilDue(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	due := time.Now().Add(1500 * time.Millisecond)
	if _, err := f.h.Enqueue("provisioning", Message{Body: "later", ScheduledEnqueueTime: due}); err != nil {
		t.Fatal(err)
	}
	if s := f.h.QueueStats("provisioning"); s.Scheduled != 1 || s.Active != 0 {
		t.Errorf("stats right after Enqueue = %+v, want 1 scheduled", s)
	}
	// A message scheduled in the future does not keep the host busy.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := f.h.WaitIdle(ctx); err != nil {
		t.Errorf("WaitIdle with only a future scheduled message: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "scheduled message delivered", func() bool {
		return len(f.fake.requests("/ProvisionTenant")) == 1
	})
	r := f.fake.requests("/ProvisionTenant")[0]
	if r.At.Before(due) {
		t.Errorf("delivered at %s, before its scheduled time %s", r.At, due)
	}
	var enq string
	_ = json.Unmarshal(r.invocation(t).Metadata["EnqueuedTimeUtc"], &enq)
	if enq != due.UTC().Format("2006-01-02T15:04:05") {
		t.Errorf("EnqueuedTimeUtc = %q, want the scheduled time %s", enq, due.UTC().Format("2006-01-02T15:04:05"))
	}
}

func TestOutputsRoutedToOutputBindingQueue(t *testing.T) {
	t.Parallel()
	fns := map[string]string{
		"Fanout": `{"bindings":[
			{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"in","connection":"SB"},
			{"type":"serviceBus","direction":"out","name":"outMsg","queueName":"%OUT_QUEUE%","connection":"SB"}]}`,
		"Sink": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"out","connection":"SB"}]}`,
	}
	f := startHost(t, fns, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/Fanout" {
			okResponse(w, r, body)
			return
		}
		var inv struct{ Data map[string]json.RawMessage }
		_ = json.Unmarshal(body, &inv)
		w.Header().Set("Content-Type", "application/json")
		switch queueBody(t, inv.Data["msg"]) {
		case "array":
			_, _ = io.WriteString(w, `{"Outputs":{"outMsg":[{"a":1},"plain text"],"unknown":{"x":1}},"Logs":[]}`)
		case "object":
			_, _ = io.WriteString(w, `{"Outputs":{"outMsg":{"b": 2}}}`)
		case "string":
			_, _ = io.WriteString(w, `{"Outputs":{"outMsg":"just a string"}}`)
		default: // failure: the Outputs must be discarded
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"Outputs":{"outMsg":{"never":true}}}`)
		}
	}, func(c *Config) {
		c.Settings = map[string]string{"OUT_QUEUE": "out"}
		c.MaxDeliveryCount = 1
	})
	for _, body := range []string{"array", "object", "string", "fail"} {
		if _, err := f.h.Enqueue("in", Message{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, f.h)
	var got []string
	for _, r := range f.fake.requests("/Sink") {
		got = append(got, queueBody(t, r.invocation(t).Data["msg"]))
	}
	want := map[string]bool{`{"a":1}`: true, "plain text": true, `{"b":2}`: true, "just a string": true}
	if len(got) != len(want) {
		t.Fatalf("Sink received %q, want %d messages", got, len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected message %q on the output queue", g)
		}
	}
	if s := f.h.QueueStats("in"); s.Completed != 3 || s.DeadLettered != 1 {
		t.Errorf("in stats = %+v", s)
	}
	if !strings.Contains(f.logs.String(), `"output":"unknown"`) {
		t.Error("an output naming no binding was not warned about")
	}
}

func TestConcurrencyBoundedAndNoDoubleDelivery(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	seen := map[string]int{}
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var inv struct{ Metadata map[string]json.RawMessage }
		_ = json.Unmarshal(body, &inv)
		mu.Lock()
		seen[string(inv.Metadata["MessageId"])]++
		mu.Unlock()
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		okResponse(w, r, body)
	}, func(c *Config) { c.MaxConcurrentCalls = 2 })
	for i := 0; i < 6; i++ {
		if _, err := f.h.Enqueue("provisioning", Message{Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "two invocations in flight", func() bool { return running.Load() == 2 })
	if s := f.h.QueueStats("provisioning"); s.InFlight != 2 || s.Active != 4 {
		t.Errorf("stats with the gate closed = %+v, want 2 in flight and 4 active", s)
	}
	close(gate)
	waitIdle(t, f.h)
	if m := maxRunning.Load(); m != 2 {
		t.Errorf("max concurrent invocations = %d, want 2", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Errorf("distinct messages delivered = %d, want 6", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
	}
}

func TestCloseCancelsInFlightWhenContextEnds(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan struct{}), make(chan struct{})
	f := newFakeHandler(t, func(_ http.ResponseWriter, r *http.Request, _ []byte) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	h, err := New(Config{
		FunctionsDir: functionsDir(t, map[string]string{"ProvisionTenant": provisionFn}),
		HandlerURL:   f.srv.URL, ListenAddr: "127.0.0.1:0", LookupEnv: notInAzure,
		Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Enqueue("provisioning", Message{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	// In flight is counted before the POST reaches the handler; wait for the
	// handler itself, or Close may cancel a request never sent.
	testkit.Eventually(t, 5*time.Second, "message in flight", func() bool { return h.QueueStats("provisioning").InFlight == 1 })
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never received the invocation")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Close(ctx); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Close with an ended context = %v, want in-flight invocations cancelled", err)
	}
	testkit.Eventually(t, 5*time.Second, "handler sees its request cancelled", func() bool {
		select {
		case <-cancelled:
			return true
		default:
			return false
		}
	})
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestEnqueueValidation(t *testing.T) {
	t.Parallel()
	h, err := New(Config{
		FunctionsDir: functionsDir(t, map[string]string{"ProvisionTenant": provisionFn}),
		HandlerURL:   "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]Message{
		"messageId":                  {MessageID: strings.Repeat("a", 129)},
		"applicationProperties.deep": {ApplicationProperties: map[string]any{"deep": map[string]any{"x": 1}}},
		"size limit":                 {Body: strings.Repeat("b", 256<<10+1)},
	}
	for want, m := range cases {
		if _, err := h.Enqueue("provisioning", m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Enqueue(%s) error = %v, want it to mention %q", want, err, want)
		}
	}
	if _, err := h.Enqueue(" ", Message{}); err == nil {
		t.Error("empty queue name accepted")
	}
	if s := h.QueueStats("provisioning"); s.Active != 0 {
		t.Errorf("invalid messages were enqueued: %+v", s)
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// jsonNoHTML encodes like Newtonsoft.Json: no escaping of <, > and &.
func jsonNoHTML(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
