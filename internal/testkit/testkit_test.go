package testkit

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRootHoldsGoMod(t *testing.T) {
	if _, err := os.Stat(filepath.Join(Root(t), "go.mod")); err != nil {
		t.Fatal(err)
	}
}

func TestGUIDIsVersion4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b, c := GUID(t), GUID(t), NewGUID()
	if !re.MatchString(a) || !re.MatchString(c) || a == b || a == c {
		t.Fatalf("GUIDs %q, %q, %q", a, b, c)
	}
}

func TestSyncBufferRecords(t *testing.T) {
	var buf SyncBuffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("provisioning applied", "tenantId", "t1")
	recs := buf.Records(t)
	if len(recs) != 1 || recs[0]["msg"] != "provisioning applied" || recs[0]["tenantId"] != "t1" {
		t.Fatalf("records = %v", recs)
	}
}

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	n := 0
	Eventually(t, time.Second, "third poll", func() bool { n++; return n >= 3 })
	if n != 3 {
		t.Fatalf("polled %d times", n)
	}
}

func TestFreeAddrCanBeListenedOn(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	_ = l.Close()
}

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestJSON(t *testing.T) {
	if got := JSON(t, map[string]any{"input": "x", "n": 1}); got != `{"input":"x","n":1}` {
		t.Errorf("JSON = %s", got)
	}
	ft := &fatalTB{TB: t}
	if got := JSON(ft, make(chan int)); got != "" || !strings.Contains(ft.msg, "encode chan int as JSON") {
		t.Errorf("JSON of a channel: %q, failure %q", got, ft.msg)
	}
}
