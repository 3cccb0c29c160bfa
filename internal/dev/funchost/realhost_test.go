package funchost

// Tests that pin the emulator to the real Functions host's behaviour
// (functions-custom-handler reference §1–§4), one per point of issue 11 item 7.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// Service Bus redelivers an abandoned message at once: ten failures take
// milliseconds, not the seconds a back-off would spread them over.
func TestRedeliveryIsImmediateAndDefaultMaxDeliveryCountIsTen(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
	}, nil)
	if _, err := f.h.Enqueue("provisioning", Message{MessageID: "m", Body: `{}`}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "dead-lettered", func() bool { return len(f.h.DeadLetters("provisioning")) == 1 })
	reqs := f.fake.requests("/ProvisionTenant")
	if len(reqs) != 10 {
		t.Fatalf("deliveries = %d, want the default maxDeliveryCount 10", len(reqs))
	}
	for i, r := range reqs {
		if got, want := string(r.invocation(t).Metadata["DeliveryCount"]), testkit.JSON(t, testkit.JSON(t, i+1)); got != want {
			t.Errorf("delivery %d: DeliveryCount = %s, want %s", i+1, got, want)
		}
	}
	// The old emulator waited 250 ms·2^(n-1) between deliveries (over a minute in all).
	if span := reqs[9].At.Sub(reqs[0].At); span > 2*time.Second {
		t.Errorf("ten deliveries took %s; Service Bus redelivers at once", span)
	}
	if s := f.h.QueueStats("provisioning"); s.MaxDeliveryCount != 10 || s.Redelivering != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// The Bicep sets maxDeliveryCount per queue; the emulator takes the same per-queue value.
func TestQueueMaxDeliveryCountPerQueue(t *testing.T) {
	t.Parallel()
	fns := map[string]string{
		"ProvisionTenant": provisionFn,
		"SendEmail":       `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"email","connection":"SB"}]}`,
	}
	f := startHost(t, fns, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusInternalServerError)
	}, func(c *Config) { c.QueueMaxDeliveryCount = map[string]int{"Provisioning": 3} })
	for _, q := range []string{"provisioning", "email"} {
		if _, err := f.h.Enqueue(q, Message{Body: `{}`}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, f.h)
	if n := len(f.fake.requests("/ProvisionTenant")); n != 3 {
		t.Errorf("provisioning deliveries = %d, want its own maxDeliveryCount 3", n)
	}
	if n := len(f.fake.requests("/SendEmail")); n != 10 {
		t.Errorf("email deliveries = %d, want the default 10", n)
	}
	if dl := f.h.DeadLetters("provisioning"); len(dl) != 1 || dl[0].DeliveryCount != 3 {
		t.Errorf("dead letters = %+v", dl)
	}
}

// An empty 2xx body reads as a null result: the real host never completes
// the invocation, which ends only at functionTimeout.
func TestEmptyResultFailsAtFunctionTimeout(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "null"} {
		f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}, func(c *Config) {
			c.MaxDeliveryCount = 1
			c.FunctionTimeout = 300 * time.Millisecond
		})
		start := time.Now()
		if _, err := f.h.Enqueue("provisioning", Message{Body: `{}`}); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f.h)
		dl := f.h.DeadLetters("provisioning")
		if len(dl) != 1 || !strings.Contains(dl[0].Description, "empty body") || !strings.Contains(dl[0].Description, "functionTimeout") {
			t.Fatalf("body %q: dead letters = %+v, want a failure after functionTimeout", body, dl)
		}
		if elapsed := dl[0].DeadLetteredAt.Sub(start); elapsed < 300*time.Millisecond {
			t.Errorf("body %q: failed after %s, before functionTimeout (300ms)", body, elapsed)
		}
		if s := f.h.QueueStats("provisioning"); s.Completed != 0 {
			t.Errorf("body %q: an empty result completed the message: %+v", body, s)
		}
	}
}

// A 2xx answer no JSON formatter reads fails the invocation at once.
func TestNonJSONResultFails(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, `{"Outputs":{},"Logs":[]}`)
	}, func(c *Config) { c.MaxDeliveryCount = 2 })
	if _, err := f.h.Enqueue("provisioning", Message{Body: `{}`}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.h)
	dl := f.h.DeadLetters("provisioning")
	if len(dl) != 1 || !strings.Contains(dl[0].Description, `Content-Type "text/plain; charset=utf-8"`) {
		t.Errorf("dead letters = %+v, want a failure naming the content type", dl)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "text/json", "application/problem+json"} {
		if !isJSONMediaType(ct) {
			t.Errorf("isJSONMediaType(%q) = false", ct)
		}
	}
	for _, ct := range []string{"", "text/plain", "text/html", "application/octet-stream"} {
		if isJSONMediaType(ct) {
			t.Errorf("isJSONMediaType(%q) = true", ct)
		}
	}
}

// Body primitives are serialized twice even when they are not objects; a
// non-object body adds nothing to Metadata and still arrives in two levels.
func TestServiceBusNonObjectBodies(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	bodies := []string{`[{"messageId":"x"}]`, `"just a string"`, `42`, `not json`}
	for _, b := range bodies {
		if _, err := f.h.Enqueue("provisioning", Message{Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, f.h)
	got := map[string]bool{}
	for _, r := range f.fake.requests("/ProvisionTenant") {
		inv := r.invocation(t)
		got[queueBody(t, inv.Data["msg"])] = true
		if _, ok := inv.Metadata["messageId"]; ok {
			t.Errorf("an array body's element keys reached Metadata: %v", keys(inv.Metadata))
		}
		if !quotedUUIDInString.MatchString(string(inv.Metadata["MessageId"])) {
			t.Errorf("MessageId = %s, want the system value", inv.Metadata["MessageId"])
		}
	}
	for _, b := range bodies {
		if !got[b] {
			t.Errorf("body %q not delivered as two levels of JSON string; got %v", b, got)
		}
	}
}

// A first run sees Last and LastUpdated at 0001-01-01T00:00:00+00:00; a saved
// status whose Next has passed (downtime) runs at once with IsPastDue.
func TestTimerPastDueAfterDowntime(t *testing.T) {
	t.Parallel()
	last := time.Now().UTC().Add(-25 * time.Hour).Truncate(time.Second)
	f := startHost(t, map[string]string{"Nightly": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 3 * * *","useMonitor":true}]}`},
		nil, func(c *Config) {
			c.TimerStatus = map[string]TimerScheduleStatus{"Nightly": {Last: last, Next: last.Add(24 * time.Hour), LastUpdated: last}}
		})
	testkit.Eventually(t, 5*time.Second, "past-due run at start", func() bool { return len(f.fake.requests("/Nightly")) == 1 })
	r := f.fake.requests("/Nightly")[0]
	checkTimerPayload(t, r, "timer", "Nightly", false, true)
	var p struct{ ScheduleStatus struct{ Last string } }
	_ = json.Unmarshal(r.invocation(t).Data["timer"], &p)
	if want := last.Format("2006-01-02T15:04:05") + "+00:00"; p.ScheduleStatus.Last != want {
		t.Errorf("Last = %q, want the saved %q", p.ScheduleStatus.Last, want)
	}
}

// An occurrence that passes while the previous run is still going fires as
// soon as that run ends, with IsPastDue.
func TestTimerPastDueAfterMissedOccurrence(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := startHost(t, map[string]string{"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"* * * * * *"}]}`},
		func(w http.ResponseWriter, r *http.Request, b []byte) {
			if calls.Add(1) == 1 {
				time.Sleep(1500 * time.Millisecond) // the handler is slow: the next second passes meanwhile
			}
			okResponse(w, r, b)
		}, nil)
	testkit.Eventually(t, 10*time.Second, "two timer runs", func() bool { return len(f.fake.requests("/Tick")) >= 2 })
	reqs := f.fake.requests("/Tick")
	checkTimerPayload(t, reqs[0], "timer", "Tick", true, false)
	checkTimerPayload(t, reqs[1], "timer", "Tick", false, true)
}

// Forwarded requests: a chunked body is dropped with its Content-Type, the
// invocation ID is added after a client-sent one, the User-Agent is appended
// to, repeated query values are joined with commas.
func TestHTTPForwardingRealShapes(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"Echo": httpFn(`["post","get"]`, "echo")}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusOK)
	}, nil)
	base := f.h.URL()

	send := func(req *http.Request) recorded {
		t.Helper()
		resp, err := noRedirectClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return lastRequest(t, f)
	}

	// Chunked: the client does not know the length.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/echo", io.MultiReader(strings.NewReader(`{"a":1}`)))
	req.Header.Set("Content-Type", "application/json")
	if req.ContentLength != 0 {
		t.Fatalf("test request has Content-Length %d, want chunked", req.ContentLength)
	}
	got := send(req)
	if len(got.Body) != 0 || got.Header.Get("Content-Type") != "" {
		t.Errorf("chunked body forwarded: body %q, Content-Type %q; the host drops both", got.Body, got.Header.Get("Content-Type"))
	}

	// Content-Length: the body and its type arrive.
	req, _ = http.NewRequest(http.MethodPost, base+"/api/echo?a=1&b=x&a=2", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crm-client/2.0")
	req.Header.Set(headerInvocationID, "client-chosen")
	got = send(req)
	if string(got.Body) != `{"a":1}` || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body with Content-Length: %q %q", got.Body, got.Header.Get("Content-Type"))
	}
	ids := got.Header.Values(headerInvocationID)
	if len(ids) != 2 || ids[0] != "client-chosen" || !uuidPattern.MatchString(ids[1]) {
		t.Errorf("%s = %q, want the client's value first, then the host's (Headers.Add)", headerInvocationID, ids)
	}
	if ua := got.Header.Get("User-Agent"); ua != "crm-client/2.0 Azure-Functions-Host/4.0.0-devhost" {
		t.Errorf("User-Agent = %q, want the caller's with the host's token appended", ua)
	}
	if got.RawQuery != "a=1%2C2&b=x" {
		t.Errorf("query = %q, want repeated values joined with commas (a=1%%2C2&b=x)", got.RawQuery)
	}

	// No User-Agent: only the host's token.
	req, _ = http.NewRequest(http.MethodGet, base+"/api/echo", nil)
	req.Header.Set("User-Agent", "")
	if ua := send(req).Header.Get("User-Agent"); ua != "Azure-Functions-Host/4.0.0-devhost" {
		t.Errorf("User-Agent without a caller's = %q", ua)
	}
}

// A reserved route drops only its function; the others load and serve.
func TestReservedRouteDropsOnlyThatFunction(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{
		"AdminConsent": httpFn(`["get"]`, "adminconsent"),
		"Health":       httpFn(`["get"]`, "healthz"),
	}, nil, nil)
	if resp := do(t, http.MethodGet, f.h.URL()+"/api/healthz", "", nil); resp.Status != http.StatusOK {
		t.Errorf("GET /api/healthz = %d, want the other function served", resp.Status)
	}
	if resp := do(t, http.MethodGet, f.h.URL()+"/api/adminconsent", "", nil); resp.Status != http.StatusNotFound {
		t.Errorf("GET /api/adminconsent = %d, want 404 (function not loaded)", resp.Status)
	}
	logged := false
	for _, rec := range f.logs.Records(t) {
		if rec["msg"] == "function not loaded: reserved route" && rec["function"] == "AdminConsent" && rec["level"] == "ERROR" {
			logged = true
		}
	}
	if !logged {
		t.Errorf("dropped function not logged:\n%s", f.logs.String())
	}
}

// Two functions on the same route (case and slashes aside) with overlapping
// methods are an error at start; disjoint methods are fine.
func TestDuplicateRoutesRefused(t *testing.T) {
	t.Parallel()
	newHost := func(fns map[string]string) error {
		_, err := New(Config{FunctionsDir: functionsDir(t, fns), HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger()})
		return err
	}
	err := newHost(map[string]string{"One": httpFn(`["get","post"]`, "api/x/{id}"), "Two": httpFn(`["post"]`, "/API/X/{other}/")})
	if err == nil || !strings.Contains(err.Error(), "duplicates") || !strings.Contains(err.Error(), "One") || !strings.Contains(err.Error(), "Two") {
		t.Errorf("duplicate routes: err = %v", err)
	}
	if err := newHost(map[string]string{"One": httpFn(`null`, "api/x"), "Two": httpFn(`["get"]`, "api/x")}); err == nil {
		t.Error("a route with all methods and the same route with GET were accepted")
	}
	if err := newHost(map[string]string{"One": httpFn(`["get"]`, "api/x"), "Two": httpFn(`["post"]`, "api/x")}); err != nil {
		t.Errorf("same route, disjoint methods: %v", err)
	}
}

// Close still stops a host whose handler never answers with a result.
func TestCloseEndsHangingEmptyResult(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
	}, func(c *Config) { c.FunctionTimeout = time.Hour })
	if _, err := f.h.Enqueue("provisioning", Message{Body: `{}`}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "delivered", func() bool { return len(f.fake.requests("/ProvisionTenant")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = f.h.Close(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}

// While the handler restarts, a forwarded request waits for it instead of
// failing; past the start timeout it gets 503.
func TestHTTPWaitsForRestartingHandler(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"Health": httpFn(`["get"]`, "healthz")}, nil,
		func(c *Config) { c.HandlerStartTimeout = 300 * time.Millisecond })
	f.h.gate.setDown()
	if resp := do(t, http.MethodGet, f.h.URL()+"/api/healthz", "", nil); resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("handler down past the start timeout: %d %v", resp.Status, resp.Header)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(f.h.URL() + "/api/healthz")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.AfterFunc(100*time.Millisecond, func() { f.h.gate.setUp(f.fake.srv.URL) })
	if status := <-done; status != http.StatusOK {
		t.Errorf("request during a restart = %d, want it to wait and succeed", status)
	}
}
