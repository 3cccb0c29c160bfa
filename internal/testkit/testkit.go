// Package testkit is what the tests of every package share: the repository
// root, polling with a deadline, a concurrency-safe log buffer, random GUIDs,
// JSON bodies and one Azurite per test binary. Only tests import it (and its
// test-only subpackages teststore and teststack).
package testkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
)

// Root is the repository root: the nearest directory above the test's
// working directory (its package) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Eventually polls cond until it holds, failing the test with what after
// within: tests wait on conditions, never on sleeps.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", within, what)
		case <-tick.C:
		}
	}
}

// GUID is a random version-4 GUID (tenant IDs, app IDs).
func GUID(t testing.TB) string {
	t.Helper()
	return NewGUID()
}

// NewGUID is GUID where no test is at hand.
func NewGUID() string { return uuid.NewString() }

// JSON is v encoded as JSON, failing the test when it cannot be (a request
// or message body a test builds from a map or struct).
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T as JSON: %v", v, err)
	}
	return string(b)
}

// LogWriter is an io.Writer into the test's log, one log line per write
// (a slog handler writes one record per call).
func LogWriter(t testing.TB) io.Writer { return logWriter{t} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// SyncBuffer is an io.Writer that a logger and the test may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Records decodes the JSON log lines written so far (slog's JSON handler).
func (s *SyncBuffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// sharedAzurite is the one Azurite a test binary starts, on first use.
var sharedAzurite = struct {
	once sync.Once
	srv  *azurite.Server
	err  error
}{}

// Azurite is the test binary's Azurite Table service, started (in memory,
// on a free port) by the first test that asks. A test fails, never skips,
// when it cannot start. Call Main from TestMain so it is stopped at exit.
func Azurite(t testing.TB) *azurite.Server {
	t.Helper()
	sharedAzurite.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sharedAzurite.srv, sharedAzurite.err = azurite.Start(ctx, azurite.Options{})
	})
	if sharedAzurite.err != nil {
		t.Fatalf("cannot start Azurite: %v", sharedAzurite.err)
	}
	return sharedAzurite.srv
}

// atExit is what Main runs after the tests, latest first.
var atExit struct {
	mu  sync.Mutex
	fns []func()
}

// AtExit has Main run f once the package's tests are done (latest first,
// before Azurite stops): for what a test binary starts once and shares, as
// Azurite is.
func AtExit(f func()) {
	atExit.mu.Lock()
	defer atExit.mu.Unlock()
	atExit.fns = append(atExit.fns, f)
}

// Main runs the package's tests, then stops what the kit started. Use it as
// the whole of TestMain: func TestMain(m *testing.M) { testkit.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	atExit.mu.Lock()
	fns := atExit.fns
	atExit.fns = nil
	atExit.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	if srv := sharedAzurite.srv; srv != nil {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop azurite: %v\n", err)
		}
	}
	os.Exit(code)
}

// FreeAddr is a loopback address ("127.0.0.1:port") nothing listened on a
// moment ago: for a server whose address must be known (written into
// settings) before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TablePrefix is a random table-name prefix, so tests sharing one Azurite
// never see each other's rows.
func TablePrefix(t testing.TB) string {
	t.Helper()
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b[:])
}
