package funchost

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestTimerFiresEverySecond(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{
		"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"myTimer","schedule":"%TICK%"}]}`,
	}, nil, func(c *Config) { c.Settings = map[string]string{"TICK": "* * * * * *"} })
	testkit.Eventually(t, 8*time.Second, "two timer ticks", func() bool { return len(f.fake.requests("/Tick")) >= 2 })
	reqs := f.fake.requests("/Tick")
	checkTimerPayload(t, reqs[0], "myTimer", "Tick", true, false)
	checkTimerPayload(t, reqs[1], "myTimer", "Tick", false, false)
}

func TestTimerRunOnStartup(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{
		"Nightly": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 3 * * *","runOnStartup":true}]}`,
	}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusInternalServerError) // failures are logged, not retried
	}, nil)
	testkit.Eventually(t, 5*time.Second, "runOnStartup invocation", func() bool { return len(f.fake.requests("/Nightly")) == 1 })
	waitIdle(t, f.h)
	if n := len(f.fake.requests("/Nightly")); n != 1 {
		t.Errorf("invocations = %d, want 1 (no retry)", n)
	}
	testkit.Eventually(t, 5*time.Second, "failure logged", func() bool {
		return strings.Contains(f.logs.String(), `"msg":"invocation failed (timers are not retried)"`)
	})
}

func TestRefusesInsideAzure(t *testing.T) {
	t.Parallel()
	dir := functionsDir(t, map[string]string{"ProvisionTenant": provisionFn})
	azure := func(name string) (string, bool) {
		if name == "WEBSITE_INSTANCE_ID" {
			return "abc123", true
		}
		return "", false
	}
	_, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: azure, Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "WEBSITE_INSTANCE_ID") {
		t.Errorf("New inside Azure = %v, want a refusal naming WEBSITE_INSTANCE_ID", err)
	}

	// Start checks again (the environment may change between New and Start).
	var inAzure atomic.Bool
	lookup := func(name string) (string, bool) {
		if inAzure.Load() && name == "IDENTITY_ENDPOINT" {
			return "http://169.254.169.254", true
		}
		return "", false
	}
	h, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: lookup, Logger: discardLogger(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	inAzure.Store(true)
	if err := h.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "IDENTITY_ENDPOINT") {
		t.Errorf("Start inside Azure = %v, want a refusal naming IDENTITY_ENDPOINT", err)
	}
	if h.URL() != "" {
		t.Error("Start refused but listened")
	}
}

func TestStartWaitsForHandler(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()
	h, err := New(Config{
		FunctionsDir: functionsDir(t, map[string]string{"ProvisionTenant": provisionFn}),
		HandlerURL:   closedURL, ListenAddr: "127.0.0.1:0", LookupEnv: notInAzure, Logger: discardLogger(),
		HandlerStartTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "did not answer GET /") {
		t.Errorf("Start without a handler = %v", err)
	}
}

func TestBadFunctionJSON(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ json, mention string }{
		"invalid JSON":      {`{"bindings":[`, "invalid JSON"},
		"no bindings":       {`{"bindings":[]}`, "no \"bindings\""},
		"no trigger":        {`{"bindings":[{"type":"serviceBus","direction":"out","name":"o","queueName":"q"}]}`, "no trigger"},
		"two triggers":      {`{"bindings":[` + `{"type":"timerTrigger","direction":"in","name":"a","schedule":"* * * * * *"},{"type":"serviceBusTrigger","direction":"in","name":"b","queueName":"q"}]}`, "exactly one trigger"},
		"missing queueName": {`{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg"}]}`, "queueName"},
		"bad schedule":      {`{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * *"}]}`, "six-field NCRONTAB"},
		"missing name":      {`{"bindings":[{"type":"timerTrigger","direction":"in","schedule":"* * * * * *"}]}`, "\"name\""},
		"http with extras": {`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"},` +
			`{"type":"serviceBus","direction":"out","name":"o","queueName":"q"}]}`, "does not forward"},
		"http without out":  {`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`, "exactly one \"http\" output"},
		"bad method":        {httpFn(`["fetch"]`, "x"), "fetch"},
		"bad route":         {httpFn(`["get"]`, "a/{*rest}/b"), "catch-all"},
		"bad authLevel":     {`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"user"},{"type":"http","direction":"out","name":"res"}]}`, "authLevel"},
		"topic trigger":     {`{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","topicName":"t","subscriptionName":"s"}]}`, "topic"},
		"duplicate binding": {`{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q"},{"type":"serviceBus","direction":"out","name":"M","queueName":"r"}]}`, "duplicate"},
	}
	for name, c := range cases {
		dir := functionsDir(t, map[string]string{"Broken": c.json})
		_, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger()})
		file := filepath.Join(dir, "Broken", "function.json")
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: New error = %v; want it to name %s and mention %q", name, err, file, c.mention)
		}
	}
}

func TestSettingsResolution(t *testing.T) {
	t.Parallel()
	fn := `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%QUEUE_NAME%","connection":"SB"}]}`
	dir := functionsDir(t, map[string]string{"Worker": fn})
	_, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "%QUEUE_NAME%") || !strings.Contains(err.Error(), filepath.Join(dir, "Worker", "function.json")) {
		t.Errorf("missing setting: New error = %v", err)
	}

	h, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger(),
		Settings: map[string]string{"QUEUE_NAME": "jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := h.QueueStats("jobs"); s.Listeners != 1 {
		t.Errorf("resolved queue stats = %+v, want the function listening on jobs", s)
	}

	// App settings are environment variables in Azure: the environment is the fallback.
	env := func(name string) (string, bool) {
		if name == "QUEUE_NAME" {
			return "fromenv", true
		}
		return "", false
	}
	h, err = New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: env, Logger: discardLogger()})
	if err != nil || h.QueueStats("fromenv").Listeners != 1 {
		t.Errorf("env fallback: %v", err)
	}
}

func TestUnknownBindingWarnedAndDisabledSkipped(t *testing.T) {
	t.Parallel()
	logs := &testkit.SyncBuffer{}
	dir := functionsDir(t, map[string]string{
		"WithBlob": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q"},{"type":"blob","direction":"in","name":"b","path":"x/y"}]}`,
		"Off":      `{"disabled":true,"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"off"}]}`,
	})
	writeFile(t, filepath.Join(dir, "README.md"), "not a function")
	h, err := New(Config{FunctionsDir: dir, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure,
		Logger: newJSONLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.functions) != 1 || h.functions[0].Name != "WithBlob" {
		t.Errorf("functions = %v", h.functions)
	}
	if !strings.Contains(logs.String(), `"type":"blob"`) || !strings.Contains(logs.String(), "unknown binding type") {
		t.Errorf("no warning for the unknown binding:\n%s", logs.String())
	}
}

func TestHostJSONAndTimeSpan(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "host.json")
	writeFile(t, path, `{"version":"2.0","functionTimeout":"00:10:00","extensions":{"http":{"routePrefix":"/v1/"},"serviceBus":{"maxConcurrentCalls":3}}}`)
	cfg, err := loadHostJSON(path)
	if err != nil || cfg.RoutePrefix != "v1" || cfg.FunctionTimeout != 10*time.Minute || cfg.MaxConcurrentCalls != 3 {
		t.Errorf("loadHostJSON = %+v, %v", cfg, err)
	}
	if cfg, err := loadHostJSON(""); err != nil || cfg.RoutePrefix != "api" || cfg.FunctionTimeout != 5*time.Minute {
		t.Errorf("defaults = %+v, %v", cfg, err)
	}
	writeFile(t, path, `{"functionTimeout":"ten minutes"}`)
	if _, err := loadHostJSON(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "functionTimeout") {
		t.Errorf("bad functionTimeout error = %v", err)
	}
	for in, want := range map[string]time.Duration{"00:05:00": 5 * time.Minute, "1.02:00:00": 26 * time.Hour, "00:00:01.5": 1500 * time.Millisecond, "-1": 0} {
		if got, err := parseTimeSpan(in); err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestLoadLocalSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, `{"IsEncrypted":false,"Values":{"FUNCTIONS_WORKER_RUNTIME":"custom","QUEUE":"jobs"},"Host":{"LocalHttpPort":7071}}`)
	values, err := LoadLocalSettings(good)
	if err != nil || values["QUEUE"] != "jobs" || values["FUNCTIONS_WORKER_RUNTIME"] != "custom" || len(values) != 2 {
		t.Errorf("LoadLocalSettings = %v, %v", values, err)
	}
	for content, mention := range map[string]string{
		`{"IsEncrypted":true,"Values":{}}`:       "IsEncrypted",
		`{"IsEncrypted":false,"Values":{"N":1}}`: "Values.N",
		`{"IsEncrypted":false,"Values":`:         "invalid JSON",
	} {
		p := filepath.Join(dir, "bad.json")
		writeFile(t, p, content)
		if _, err := LoadLocalSettings(p); err == nil || !strings.Contains(err.Error(), mention) {
			t.Errorf("LoadLocalSettings(%s) = %v, want it to mention %q", content, err, mention)
		}
	}
	if _, err := LoadLocalSettings(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}
