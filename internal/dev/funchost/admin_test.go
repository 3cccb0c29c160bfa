package funchost

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestAdminInvokeFunctions(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{
		"ProvisionTenant": provisionFn,
		"Nightly":         timerFarFn,
		"healthz":         httpFn(`["get"]`, ""),
	}, nil, nil)
	base := f.h.URL()

	// Queue function: input becomes a new message with a fresh id.
	resp := do(t, http.MethodPost, base+"/admin/functions/ProvisionTenant", `{"input":"{\"tenantId\":\"t9\"}"}`, nil)
	var accepted struct{ MessageID string }
	if err := json.Unmarshal([]byte(resp.Body), &accepted); err != nil || resp.Status != http.StatusAccepted || !uuidPattern.MatchString(accepted.MessageID) {
		t.Fatalf("invoke queue function = %d %s", resp.Status, resp.Body)
	}
	// Timer function: invoked now with a timer payload.
	if resp := do(t, http.MethodPost, base+"/admin/functions/nightly", `{}`, nil); resp.Status != http.StatusAccepted {
		t.Fatalf("invoke timer function = %d %s", resp.Status, resp.Body)
	}
	waitIdle(t, f.h)

	q := f.fake.requests("/ProvisionTenant")
	if len(q) != 1 {
		t.Fatalf("queue invocations = %d", len(q))
	}
	inv := q[0].invocation(t)
	if data := queueBody(t, inv.Data["msg"]); data != `{"tenantId":"t9"}` || string(inv.Metadata["MessageId"]) != testkit.JSON(t, testkit.JSON(t, accepted.MessageID)) {
		t.Errorf("delivered %q with MessageId %s", data, inv.Metadata["MessageId"])
	}

	tm := f.fake.requests("/Nightly")
	if len(tm) != 1 {
		t.Fatalf("timer invocations = %d", len(tm))
	}
	checkTimerPayload(t, tm[0], "timer", "Nightly", true, false)

	for _, c := range []struct {
		path, body string
		status     int
		mention    string
	}{
		{"/admin/functions/Nope", `{}`, http.StatusNotFound, "Nope"},
		{"/admin/functions/ProvisionTenant", `{"input":5}`, http.StatusBadRequest, "input"},
		{"/admin/functions/ProvisionTenant", `{"inptu":"x"}`, http.StatusBadRequest, "inptu"},
		{"/admin/functions/ProvisionTenant", `not json`, http.StatusBadRequest, "JSON"},
		{"/admin/functions/healthz", `{}`, http.StatusBadRequest, "/api/healthz"},
		// A queue function reads JSON messages: empty or non-JSON input is refused
		// instead of being delivered and rejected.
		{"/admin/functions/ProvisionTenant", `{}`, http.StatusBadRequest, "input: empty"},
		{"/admin/functions/ProvisionTenant", ``, http.StatusBadRequest, "input: empty"},
		{"/admin/functions/ProvisionTenant", `{"input":"  "}`, http.StatusBadRequest, "input: empty"},
		{"/admin/functions/ProvisionTenant", `{"input":"tenantId=t9"}`, http.StatusBadRequest, "input: not JSON"},
		{"/admin/functions/ProvisionTenant", `{"input":{"tenantId":"t9"}}`, http.StatusBadRequest, "JSON-encode"},
	} {
		resp := do(t, http.MethodPost, base+c.path, c.body, nil)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(resp.Body), &e)
		if resp.Status != c.status || !strings.Contains(e.Error, c.mention) {
			t.Errorf("POST %s %s = %d %s; want %d naming %q", c.path, c.body, resp.Status, resp.Body, c.status, c.mention)
		}
	}
}

// timerTimeJSON is a ScheduleStatus time as WebJobs.Extensions 5.x writes it: +00:00 offset.
var timerTimeJSON = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+00:00"$`)

const zeroTimerTime = "0001-01-01T00:00:00+00:00"

// checkTimerPayload asserts the host's timer payload shape.
func checkTimerPayload(t *testing.T, r recorded, binding, function string, firstRun, pastDue bool) {
	t.Helper()
	inv := r.invocation(t)
	var timer struct {
		Schedule       map[string]any
		ScheduleStatus map[string]string
		IsPastDue      *bool
	}
	dec := json.NewDecoder(strings.NewReader(string(inv.Data[binding])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&timer); err != nil {
		t.Fatalf("Data.%s = %s: %v", binding, inv.Data[binding], err)
	}
	if timer.Schedule["AdjustForDST"] != true || timer.IsPastDue == nil || *timer.IsPastDue != pastDue {
		t.Errorf("timer = %s, want IsPastDue %v", inv.Data[binding], pastDue)
	}
	for _, k := range []string{"Last", "Next", "LastUpdated"} {
		if !timerTimeJSON.MatchString(testkit.JSON(t, timer.ScheduleStatus[k])) {
			t.Errorf("ScheduleStatus.%s = %q, want a time with +00:00", k, timer.ScheduleStatus[k])
		}
	}
	if timer.ScheduleStatus["Next"] == zeroTimerTime {
		t.Error("ScheduleStatus.Next is the zero time")
	}
	for _, k := range []string{"Last", "LastUpdated"} {
		if firstRun && timer.ScheduleStatus[k] != zeroTimerTime {
			t.Errorf("first run %s = %q, want %s", k, timer.ScheduleStatus[k], zeroTimerTime)
		}
		if !firstRun && timer.ScheduleStatus[k] == zeroTimerTime {
			t.Errorf("later run still has %s = %s", k, zeroTimerTime)
		}
	}
	if len(inv.Metadata) != 1 || inv.Metadata["sys"] == nil {
		t.Errorf("timer Metadata = %v, want only sys", keys(inv.Metadata))
	}
	var sys struct{ MethodName string }
	_ = json.Unmarshal(inv.Metadata["sys"], &sys)
	if sys.MethodName != function {
		t.Errorf("sys.MethodName = %q", sys.MethodName)
	}
	if r.Header.Get("User-Agent") != UserAgent || r.Header.Get("X-Azure-Functions-InvocationId") == "" {
		t.Errorf("timer invocation headers = %v", r.Header)
	}
}

func TestAdminSendMessages(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	url := f.h.URL() + "/admin/queues/outbox/messages"

	resp := do(t, http.MethodPost, url, `{"messageId":"m-1","body":"{\"a\":1}","contentType":"application/json",
		"correlationId":"c","subject":"s","applicationProperties":{"k":"v","n":2}}`, nil)
	if resp.Status != http.StatusCreated || resp.Body != `{"messageId":"m-1","duplicate":false}`+"\n" {
		t.Errorf("send = %d %q", resp.Status, resp.Body)
	}
	resp = do(t, http.MethodPost, url, `{"messageId":"m-1","body":"again"}`, nil)
	if resp.Status != http.StatusOK || !strings.Contains(resp.Body, `"duplicate":true`) {
		t.Errorf("duplicate send = %d %q", resp.Status, resp.Body)
	}
	resp = do(t, http.MethodPost, url, `[{"body":"one"},{"messageId":"m-2","body":"two","scheduledEnqueueTime":"`+
		time.Now().Add(time.Hour).Format(time.RFC3339)+`"}]`, nil)
	var batch []sendResult
	if err := json.Unmarshal([]byte(resp.Body), &batch); err != nil || resp.Status != http.StatusCreated || len(batch) != 2 ||
		!uuidPattern.MatchString(batch[0].MessageID) || batch[1].MessageID != "m-2" {
		t.Errorf("batch = %d %s", resp.Status, resp.Body)
	}
	if s := f.h.QueueStats("outbox"); s.Active != 2 || s.Scheduled != 1 {
		t.Errorf("outbox stats = %+v, want 2 active and 1 scheduled", s)
	}

	for body, mention := range map[string]string{
		`{"body":{"a":1}}`:                               "body: must be a string",
		`{"messageId":"x"}`:                              "body: required",
		`{"body":"x","colour":"red"}`:                    "colour: unknown field",
		`{"body":"x","messageId":7}`:                     "messageId: must be a string",
		`{"body":"x","scheduledEnqueueTime":"tomorrow"}`: "scheduledEnqueueTime",
		`{"body":"x","applicationProperties":{"o":{}}}`:  "applicationProperties.o",
		`{"body":"x","applicationProperties":[1]}`:       "applicationProperties: must be an object",
		`[{"body":"fine"},{"body":1}]`:                   "[1].body",
		`[]`:                                             "empty batch",
		`"text"`:                                         "JSON object",
	} {
		resp := do(t, http.MethodPost, url, body, nil)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || resp.Status != http.StatusBadRequest || !strings.Contains(e.Error, mention) {
			t.Errorf("POST %s = %d %s; want 400 naming %q", body, resp.Status, resp.Body, mention)
		}
	}
	if s := f.h.QueueStats("outbox"); s.Active != 2 || s.Scheduled != 1 {
		t.Errorf("a rejected request enqueued something: %+v", s)
	}

	// Queue stats and dead letters.
	resp = do(t, http.MethodGet, f.h.URL()+"/admin/queues", "", nil)
	var stats []QueueStats
	if err := json.Unmarshal([]byte(resp.Body), &stats); err != nil || resp.Status != 200 {
		t.Fatalf("GET /admin/queues = %d %s", resp.Status, resp.Body)
	}
	byName := map[string]QueueStats{}
	for _, s := range stats {
		byName[s.Queue] = s
	}
	if byName["outbox"].Active != 2 || byName["provisioning"].Listeners != 1 {
		t.Errorf("queues = %+v", stats)
	}
	if resp := do(t, http.MethodGet, f.h.URL()+"/admin/queues/outbox/deadletter", "", nil); resp.Status != 200 || resp.Body != "[]\n" {
		t.Errorf("empty dead-letter list = %d %q", resp.Status, resp.Body)
	}
	if resp := do(t, http.MethodGet, f.h.URL()+"/admin/queues/nope/deadletter", "", nil); resp.Status != http.StatusNotFound {
		t.Errorf("unknown queue dead letters = %d", resp.Status)
	}

	// The delivered message carries the admin-supplied properties.
	resp = do(t, http.MethodPost, f.h.URL()+"/admin/queues/provisioning/messages",
		`{"body":"b","contentType":"text/plain","applicationProperties":{"n":2.5}}`, nil)
	if resp.Status != http.StatusCreated {
		t.Fatalf("send to provisioning = %d %s", resp.Status, resp.Body)
	}
	waitIdle(t, f.h)
	md := lastRequest(t, f).invocation(t).Metadata
	if string(md["ContentType"]) != `"\"text/plain\""` || string(md["ApplicationProperties"]) != `{"n":2.5}` {
		t.Errorf("metadata = ContentType %s, ApplicationProperties %s", md["ContentType"], md["ApplicationProperties"])
	}
}

func TestAdminHostStatus(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, nil, nil)
	resp := do(t, http.MethodGet, f.h.URL()+"/admin/host/status", "", nil)
	var st struct {
		State     string
		Functions []string
	}
	if err := json.Unmarshal([]byte(resp.Body), &st); err != nil || resp.Status != 200 || st.State != "Running" ||
		len(st.Functions) != 1 || st.Functions[0] != "ProvisionTenant" {
		t.Errorf("status = %d %s", resp.Status, resp.Body)
	}
}
