package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The test binary doubles as a custom handler process: with
// DEVHOST_TEST_HANDLER set, TestMain serves like a handler instead of testing.
func TestMain(m *testing.M) {
	if mode := os.Getenv("DEVHOST_TEST_HANDLER"); mode != "" {
		runTestHandler(mode)
		return
	}
	testkit.Main(m)
}

// runTestHandler: every start appends its pid to $STATE/pids. Mode "crash-once"
// exits in the middle of the first invocation whose body says "crash"; mode
// "die-after-first" serves the first start, and every later start exits at once.
func runTestHandler(mode string) {
	state := os.Getenv("STATE")
	starts := appendLine(filepath.Join(state, "pids"), strconv.Itoa(os.Getpid()))
	if mode == "die-after-first" && starts > 1 || mode == "exit-at-start" {
		fmt.Fprintln(os.Stderr, "test handler: refusing to start")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /ProvisionTenant", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		crashed := filepath.Join(state, "crashed")
		if strings.Contains(string(body), "crash") {
			if _, err := os.Stat(crashed); errors.Is(err, os.ErrNotExist) {
				_ = os.WriteFile(crashed, nil, 0o644)
				os.Exit(3) // in the middle of the invocation
			}
		}
		var inv struct{ Metadata map[string]json.RawMessage }
		_ = json.Unmarshal(body, &inv)
		appendLine(filepath.Join(state, "served"), "DeliveryCount="+string(inv.Metadata["DeliveryCount"]))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Outputs":{},"Logs":[]}`)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "test handler:", err)
		os.Exit(1)
	}
}

func appendLine(path, line string) int {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	_, _ = fmt.Fprintln(f, line)
	raw, _ := os.ReadFile(path)
	return strings.Count(string(raw), "\n")
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.TrimSpace(string(raw)))
}

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// startProcessHost starts a Host that runs the test binary as its handler.
func startProcessHost(t *testing.T, mode string) (*Host, *testkit.SyncBuffer, string, error) {
	t.Helper()
	state := t.TempDir()
	logs := &testkit.SyncBuffer{}
	h, err := New(Config{
		FunctionsDir: functionsDir(t, map[string]string{"ProvisionTenant": provisionFn}),
		Handler: &HandlerProcess{
			Path:         os.Args[0],
			Env:          append(os.Environ(), "DEVHOST_TEST_HANDLER="+mode, "STATE="+state),
			Stdout:       io.Discard,
			Stderr:       io.Discard,
			RestartDelay: func(int) time.Duration { return 10 * time.Millisecond },
			StopTimeout:  2 * time.Second,
		},
		ListenAddr: "127.0.0.1:0",
		Logger:     newJSONLogger(logs),
		LookupEnv:  notInAzure,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = h.Start(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h, logs, state, err
}

// The host restarts a handler that exits; the invocation that was in flight
// fails and its message is redelivered to the new process. Close stops it.
func TestHandlerRestartedAfterExit(t *testing.T) {
	t.Parallel()
	h, logs, state, err := startProcessHost(t, "crash-once")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := h.Enqueue("provisioning", Message{MessageID: "c", Body: `{"note":"crash"}`}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, h)
	pids := readLines(t, filepath.Join(state, "pids"))
	if len(pids) != 2 {
		t.Fatalf("handler starts = %v, want 2 (the first exited mid-invocation)", pids)
	}
	served := readLines(t, filepath.Join(state, "served"))
	if len(served) != 1 || served[0] != `DeliveryCount="2"` {
		t.Errorf("served = %v, want the message once, by the restarted handler, on its second delivery", served)
	}
	// No delivery is burned against the dead handler while it restarts.
	s := h.QueueStats("provisioning")
	if s.Completed != 1 || s.DeadLettered != 0 || s.Deliveries != 2 {
		t.Errorf("stats = %+v, want completed after a redelivery", s)
	}
	if !strings.Contains(logs.String(), "custom handler exited; restarting it") || !strings.Contains(logs.String(), "custom handler restarted") {
		t.Errorf("restart not logged:\n%s", logs.String())
	}
	// HTTP and later messages reach the new process.
	if _, err := h.Enqueue("provisioning", Message{Body: `{"note":"after"}`}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, h)
	if served := readLines(t, filepath.Join(state, "served")); len(served) != 2 {
		t.Errorf("served after restart = %v", served)
	}

	pid, _ := strconv.Atoi(pids[1])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close waited for the process: it has been reaped, so the pid is gone.
	if processAlive(pid) {
		t.Errorf("handler pid %d still running after Close", pid)
	}
}

// A handler that exits before answering GET / fails Start at once, naming the exit.
func TestHandlerExitAtStartFailsStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, _, _, err := startProcessHost(t, "exit-at-start")
	if err == nil || !strings.Contains(err.Error(), "exited before answering GET /") || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("Start = %v, want an error naming the exit", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Start took %s to notice the exit; it must not wait for the start timeout", d)
	}
}

// A handler that does not come back makes the host give up on Fatal, so
// `make run` exits instead of hanging with a dead child.
func TestHandlerThatNeverComesBackIsFatal(t *testing.T) {
	t.Parallel()
	h, _, state, err := startProcessHost(t, "die-after-first")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	pids := readLines(t, filepath.Join(state, "pids"))
	pid, _ := strconv.Atoi(pids[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Fatal():
	case <-time.After(15 * time.Second):
		t.Fatal("Fatal not closed after the handler stopped coming back")
	}
	if err := h.Err(); err == nil || !strings.Contains(err.Error(), "did not come back after 3 starts") {
		t.Errorf("Err = %v", err)
	}
	if n := len(readLines(t, filepath.Join(state, "pids"))); n != 4 {
		t.Errorf("starts = %d, want 1 + 3 failed restarts", n)
	}
}
