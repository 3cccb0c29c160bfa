package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func examplePath(t *testing.T) string {
	t.Helper()
	return filepath.Join(testkit.Root(t), "contracts", "provisioning.v1.example.json")
}

func TestBuildRequestOverrides(t *testing.T) {
	body, requestID, err := buildRequest(options{File: examplePath(t), AdminIPs: "127.0.0.1, 10.0.0.0/8", TenantID: "11111111-2222-4333-8444-555555555555", Region: "us"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	ips, _ := json.Marshal(got["adminIps"])
	if string(ips) != `["127.0.0.1","10.0.0.0/8"]` || got["tenantId"] != "11111111-2222-4333-8444-555555555555" || got["region"] != "us" {
		t.Errorf("request = %s", body)
	}
	if requestID != "CRM-2026-000123" || got["customerName"] != "Contoso Ltd" {
		t.Errorf("requestId %q, request %s: the rest of the example must be kept", requestID, body)
	}

	dir := t.TempDir()
	for name, content := range map[string]string{"notjson.json": "requestId=1", "noid.json": `{"tenantId":"x"}`} {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte(content), 0o644)
		if _, _, err := buildRequest(options{File: p}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-local", "http://x", "-namespace", "ns.servicebus.windows.net"}, io.Discard); err == nil {
		t.Error("-local with -namespace accepted")
	}
	o, err := parseFlags([]string{"-namespace", "ns.servicebus.windows.net"}, io.Discard)
	if err != nil || o.Local != "" || o.Queue != "provisioning" {
		t.Errorf("namespace flags = %+v, %v", o, err)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || o.Local != "http://127.0.0.1:7071" || o.File != "contracts/provisioning.v1.example.json" {
		t.Errorf("defaults = %+v, %v", o, err)
	}
}

// A CRM's message: the request ID is the message ID, so Service Bus's
// duplicate detection drops a re-send of the same request.
func TestServiceBusMessage(t *testing.T) {
	m := serviceBusMessage([]byte(`{"requestId":"CRM-1"}`), "CRM-1")
	if m.MessageID == nil || *m.MessageID != "CRM-1" || m.ContentType == nil || *m.ContentType != "application/json" || string(m.Body) != `{"requestId":"CRM-1"}` {
		t.Errorf("message = %+v", m)
	}
}

// Through the real local host: the request reaches ProvisionTenant as its
// queue message, with the admin IP replaced.
func TestSendToLocalHost(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ProvisionTenant" {
			var inv struct{ Data map[string]json.RawMessage }
			_ = json.NewDecoder(r.Body).Decode(&inv)
			var level1, level2 string
			_ = json.Unmarshal(inv.Data["msg"], &level1)
			_ = json.Unmarshal([]byte(level1), &level2)
			mu.Lock()
			bodies = append(bodies, level2)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Outputs":{},"Logs":[]}`)
	}))
	defer handler.Close()
	functions := filepath.Join(testkit.Root(t), "functions")
	host, err := funchost.New(funchost.Config{
		FunctionsDir: functions, HandlerURL: handler.URL, ListenAddr: "127.0.0.1:0",
		Settings:  map[string]string{"REVALIDATION_SCHEDULE": "0 0 0 1 1 *"},
		Logger:    slog.New(slog.DiscardHandler),
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := host.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer host.Close(context.Background())

	var out bytes.Buffer
	if err := run(ctx, []string{"-file", examplePath(t), "-admin-ip", "127.0.0.1", "-local", host.URL()}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sent request CRM-2026-000123") {
		t.Errorf("output = %q", out.String())
	}
	if err := host.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"adminIps":["127.0.0.1"]`) || !strings.Contains(bodies[0], `"requestId":"CRM-2026-000123"`) {
		t.Errorf("ProvisionTenant received %q", bodies)
	}

	// A host that refuses says why.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"input: empty"}`, http.StatusBadRequest)
	}))
	defer refusing.Close()
	err = run(ctx, []string{"-file", examplePath(t), "-local", refusing.URL}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "input: empty") {
		t.Errorf("refused send: err = %v", err)
	}
}
