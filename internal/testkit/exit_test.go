package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// With TESTKIT_AT_EXIT set, the test binary registers two AtExit functions
// and runs no test: the parent reads what Main did after the tests.
func TestMain(m *testing.M) {
	if os.Getenv("TESTKIT_AT_EXIT") != "" {
		AtExit(func() { fmt.Println("at exit: first registered") })
		AtExit(func() { fmt.Println("at exit: second registered") })
	}
	Main(m)
}

func TestMainRunsAtExitLatestFirst(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTKIT_AT_EXIT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test binary: %v\n%s", err, out)
	}
	second := strings.Index(string(out), "at exit: second registered")
	first := strings.Index(string(out), "at exit: first registered")
	if second < 0 || first < 0 || second > first {
		t.Fatalf("AtExit functions did not run latest first after the tests:\n%s", out)
	}
}

// logRecorder is a testing.TB that keeps what is logged.
type logRecorder struct {
	testing.TB
	lines []string
}

func (r *logRecorder) Log(args ...any) { r.lines = append(r.lines, fmt.Sprint(args...)) }

func TestLogWriterIsOneLogLinePerWrite(t *testing.T) {
	r := &logRecorder{TB: t}
	w := LogWriter(r)
	if n, err := w.Write([]byte("level=WARN msg=\"provisioning rejected\"\n")); n != 39 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(r.lines) != 1 || r.lines[0] != `level=WARN msg="provisioning rejected"` {
		t.Fatalf("logged %q", r.lines)
	}
}
