package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestParseBicepQueues(t *testing.T) {
	main, err := os.ReadFile(filepath.Join(testkit.Root(t), "infra", "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(filepath.Join(testkit.Root(t), "infra", "modules", "servicebus.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseBicepQueues(string(main), string(module))
	for _, q := range []string{"provisioning", "email", "revalidation"} {
		if got[q] < 1 {
			t.Errorf("queue %s: maxDeliveryCount %d from the repository's Bicep (got %v)", q, got[q], got)
		}
	}
	// A per-queue value wins over the module's shared literal.
	synthetic := "// `var serviceBusQueues = [ ... ]` declares the queues as `name: '<queue>'`\nparam p string\n" +
		"var serviceBusQueues = [\n  {\n    name: 'provisioning'\n    maxDeliveryCount: 5\n  }\n  {\n    name: 'email'\n  }\n]\n"
	got = parseBicepQueues(synthetic, "    maxDeliveryCount: 10\n")
	if got["provisioning"] != 5 || got["email"] != 10 || len(got) != 2 {
		t.Errorf("parseBicepQueues = %v, want provisioning 5, email 10", got)
	}
	if got := parseBicepQueues("param x string\n", ""); len(got) != 0 {
		t.Errorf("no queue list: %v", got)
	}
}

func TestRotateOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".local", "outbox")
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	if prev, err := rotateOutbox(dir, now); err != nil || prev != "" {
		t.Fatalf("first run: %q, %v", prev, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.eml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	prev, err := rotateOutbox(dir, now)
	if err != nil || prev != dir+".prev-20261201T093000Z" {
		t.Fatalf("second run: %q, %v", prev, err)
	}
	if _, err := os.Stat(filepath.Join(prev, "old.eml")); err != nil {
		t.Errorf("old mail not moved: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("outbox after rotation = %v, %v; want empty", entries, err)
	}
	// A second rotation within the same second does not overwrite the first.
	_ = os.WriteFile(filepath.Join(dir, "newer.eml"), []byte("y"), 0o644)
	prev2, err := rotateOutbox(dir, now)
	if err != nil || prev2 == prev || !strings.HasPrefix(prev2, prev) {
		t.Errorf("third run: %q, %v", prev2, err)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The first `make run` on a fresh clone works like the second: from a tree
// with no .local/ at all, every configured region's app is registered on the
// sandbox, earlier mail is moved aside, and a provisioned example tenant's
// consent email reaches the outbox.
func TestDevstackFromCleanTree(t *testing.T) {
	repo := testkit.Root(t)
	tree := t.TempDir()
	for _, f := range []string{"host.json", "local.settings.sample.json", "go.mod"} {
		raw, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(tree, f), raw)
	}
	copyTree(t, filepath.Join(repo, "functions"), filepath.Join(tree, "functions"))
	copyTree(t, filepath.Join(repo, "infra"), filepath.Join(tree, "infra"))
	if err := os.Symlink(filepath.Join(repo, "node_modules"), filepath.Join(tree, "node_modules")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(tree, "bin", "handler"), ".")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build handler: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(tree, ".local")); err == nil {
		t.Fatal("the clean tree already has .local/")
	}

	addr := testkit.FreeAddr(t)
	hostURL := "http://" + addr
	overrides := map[string]string{
		// Free ports everywhere, so the test runs beside a `make run`.
		"TableStorage__connectionString": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
			"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
			"TableEndpoint=http://127.0.0.1:0/devstoreaccount1",
		"AUTHORITY_HOST":         "https://127.0.0.1:0/",
		"CONSENT_AUTHORITY_HOST": "http://127.0.0.1:0/",
		"GRAPH_BASE_URL":         "http://127.0.0.1:0/v1.0",
		"PUBLIC_BASE_URL":        hostURL,
		"LOCAL_QUEUE_URL":        hostURL,
	}
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan stack, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, logger, options{
			Root: tree, ListenAddr: addr, Overrides: overrides,
			Banner: logs, HandlerOut: logs, Ready: func(s stack) { ready <- s },
		})
	}()
	var s stack
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("devstack stopped before it was ready: %v\n%s", err, logs.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("devstack not ready after 90 s\n%s", logs.String())
	}
	defer func() {
		cancel() // Ctrl-C
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devstack stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("devstack did not stop within 30 s of Ctrl-C")
		}
		// No child is left: nothing runs from the tree any more.
		if left := processesIn(tree); len(left) > 0 {
			t.Errorf("processes left running in %s after stop: %v", tree, left)
		}
	}()
	if left := processesIn(tree); len(left) == 0 {
		t.Error("no handler process found running from the tree; the no-child-left check below would prove nothing")
	}

	// Every region's app (not only the mail app) is on the sandbox.
	resp, err := http.Get(s.Sandbox.ControlURL())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var regions []struct{ AppID, DisplayName string }
	if err := json.Unmarshal([]byte(s.Settings["REGIONS"]), &regions); err != nil || len(regions) < 2 {
		t.Fatalf("REGIONS = %s (%v)", s.Settings["REGIONS"], err)
	}
	for _, r := range regions {
		if want := "OneMeeting CVI (" + r.DisplayName + ")"; !bytes.Contains(page, []byte(want)) || !bytes.Contains(page, []byte(r.AppID)) {
			t.Errorf("sandbox control page lacks %q (%s):\n%s", want, r.AppID, page)
		}
	}
	if _, err := os.Stat(filepath.Join(tree, ".local", "sandbox-ca.pem")); err != nil {
		t.Errorf("sandbox CA not written: %v", err)
	}
	if s.TokenFile == "" || !strings.Contains(logs.String(), "make provision-example") || strings.Contains(logs.String(), "../shared") {
		t.Errorf("banner/token: token file %q, banner:\n%s", s.TokenFile, logs.String())
	}

	// Provision the contract example for 127.0.0.1: the consent email arrives.
	var msg map[string]any
	if err := json.Unmarshal(contracts.ProvisioningV1Example(), &msg); err != nil {
		t.Fatal(err)
	}
	msg["adminIps"] = []string{"127.0.0.1"}
	input, _ := json.Marshal(msg)
	body, _ := json.Marshal(map[string]string{"input": string(input)})
	start := time.Now()
	resp, err = http.Post(s.HostURL+"/admin/functions/ProvisionTenant", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("provision = %d", resp.StatusCode)
	}
	// The devstack's log is the diagnosis when a wait below times out.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("devstack log:\n%s", logs.String())
		}
	})
	found := ""
	testkit.Eventually(t, 15*time.Second, "the consent email in "+s.OutboxDir+" after provisioning", func() bool {
		entries, _ := os.ReadDir(s.OutboxDir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".eml") {
				continue
			}
			if raw, err := os.ReadFile(filepath.Join(s.OutboxDir, e.Name())); err == nil && bytes.Contains(raw, []byte("/api/adminconsent")) {
				found = e.Name()
			}
		}
		return found != ""
	})
	t.Logf("consent email %s in the outbox %s after provisioning", found, time.Since(start).Round(time.Millisecond))

	// The banner names where CRM's events are, and the provisioned event is there.
	eventsURL := s.HostURL + "/admin/topics/tenant-events/subscriptions/crm/messages"
	if !strings.Contains(logs.String(), eventsURL) {
		t.Errorf("banner does not name %s", eventsURL)
	}
	var lastStatus int
	var lastBody []byte
	t.Cleanup(func() {
		if t.Failed() && lastStatus != 0 {
			t.Logf("last read of the crm subscription: %d %s", lastStatus, lastBody)
		}
	})
	testkit.Eventually(t, 15*time.Second, "the provisioned event on the crm subscription", func() bool {
		resp, err := http.Get(eventsURL)
		if err != nil {
			t.Fatal(err)
		}
		lastBody, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		lastStatus = resp.StatusCode
		return resp.StatusCode == http.StatusOK && bytes.Contains(lastBody, []byte("net.videosrv.cvi.tenant.provisioned"))
	})
}

func writeTestFile(t *testing.T, path string, raw []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// processesIn lists the processes whose executable or working directory is
// inside dir (Linux /proc).
func processesIn(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		for _, link := range []string{"exe", "cwd"} {
			target, err := os.Readlink(filepath.Join("/proc", e.Name(), link))
			if err == nil && (target == dir || strings.HasPrefix(target, dir+string(filepath.Separator))) {
				out = append(out, e.Name()+" "+link+"="+target)
				break
			}
		}
	}
	return out
}
