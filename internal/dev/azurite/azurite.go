// Package azurite runs a real Azurite Table service (the npm package pinned in
// package.json) for tests and local runs. It never fakes the service: the
// point is to exercise the same HTTP API the Azure Table service speaks.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
)

// AccountName and AccountKey are the emulator's well-known development
// account; they live in azureenv because the store expands UseDevelopmentStorage=true too.
const (
	AccountName = azureenv.EmulatorAccountName
	AccountKey  = azureenv.EmulatorAccountKey
)

const (
	binRelPath   = "node_modules/.bin/azurite-table"
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	outputLimit  = 16 << 10
)

// Options configures Start.
type Options struct {
	// RepoRoot is the directory holding node_modules; "" walks up from the
	// working directory to the first directory with a go.mod.
	RepoRoot string
	// Port to listen on (127.0.0.1); 0 picks a free port.
	Port int
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
	// InMemory keeps all data in memory (lost on Stop). It is the default:
	// data goes to disk only when InMemory is false and Location is set.
	InMemory bool
	// Location is Azurite's data directory when not in memory.
	Location string
}

// Server is a running Azurite Table service.
type Server struct {
	bin  string
	args []string
	dir  string
	port int
	log  *slog.Logger

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of azurite-table.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed after cmd.Wait returned
	waitErr error         // valid once exited is closed
	output  *limitedBuffer
}

// Start launches azurite-table and returns once its port accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	root := opts.RepoRoot
	if root == "" {
		var err error
		if root, err = RepoRoot(); err != nil {
			return nil, err
		}
	}
	bin := filepath.Join(root, binRelPath)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("azurite: %s not found (run `npm ci` in %s, or `make deps`): %w", bin, root, err)
	}
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	args := []string{
		"--disableTelemetry", "--skipApiVersionCheck", "--silent",
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port),
	}
	dir := root
	if opts.InMemory || opts.Location == "" {
		args = append(args, "--inMemoryPersistence")
	} else {
		if err := os.MkdirAll(opts.Location, 0o755); err != nil {
			return nil, fmt.Errorf("azurite: create data directory: %w", err)
		}
		args = append(args, "--location", opts.Location)
		// Azurite writes its debug/extent files relative to the cwd too.
		dir = opts.Location
	}
	s := &Server{bin: bin, args: args, dir: dir, port: port, log: logger}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ConnectionString is the explicit form aztables needs (it cannot parse
// UseDevelopmentStorage=true).
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AccountName + ";AccountKey=" + AccountKey +
		";TableEndpoint=" + s.TableEndpoint() + ";"
}

// TableEndpoint is the service URL of the dev account.
func (s *Server) TableEndpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.port) + "/" + AccountName
}

// Port is the TCP port the service listens on.
func (s *Server) Port() int { return s.port }

// Pid is the process (and process group) ID of the running service, 0 while
// stopped. Soak tests freeze it with SIGSTOP: a storage hang, not a refusal.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Stop terminates the process group (SIGINT, which Azurite handles by
// saving its data, then SIGTERM and SIGKILL after deadlines) and waits for it. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(); err != nil {
		return err
	}
	return s.startLocked(ctx)
}

func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked(ctx)
}

func (s *Server) startLocked(ctx context.Context) error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	p := &process{cmd: cmd, exited: make(chan struct{}), output: &limitedBuffer{limit: outputLimit}}
	cmd.Stdout = p.output
	cmd.Stderr = p.output
	// Own process group, so Stop reaches node and anything it spawned.
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("azurite: start %s: %w", s.bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := waitForReady(ctx, s.port, p.exited); err != nil {
		killGroup(cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("azurite: table service on 127.0.0.1:%d did not come up: %w; output: %s", s.port, err, p.output.String())
	}
	s.proc = p
	s.log.Info("azurite table service started", "port", s.port, "pid", cmd.Process.Pid)
	return nil
}

func (s *Server) stopLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	pid := p.cmd.Process.Pid
	// Azurite flushes its database and closes cleanly only on SIGINT (it
	// installs no SIGTERM handler); SIGTERM and SIGKILL are the fallbacks.
	exited := func(sig syscall.Signal, within time.Duration) bool {
		killGroup(pid, sig)
		select {
		case <-p.exited:
			return true
		case <-time.After(within):
			return false
		}
	}
	var err error
	if !exited(syscall.SIGINT, stopTimeout/2) && !exited(syscall.SIGTERM, stopTimeout/2) {
		killGroup(pid, syscall.SIGKILL)
		<-p.exited
		err = fmt.Errorf("azurite: pid %d ignored SIGINT and SIGTERM for %s and was killed", pid, stopTimeout)
	}
	// Take down any child left behind in the group.
	killGroup(pid, syscall.SIGKILL)
	if err == nil {
		err = waitPortClosed(s.port)
	}
	s.log.Info("azurite table service stopped", "port", s.port, "pid", pid, "exit", fmt.Sprint(p.waitErr))
	return err
}

// killGroup signals the whole process group; ESRCH (already gone) is fine.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// waitForReady polls until the port answers HTTP as Azurite: a bare TCP
// connect is not enough, another process may own the port.
func waitForReady(ctx context.Context, port int, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/" + AccountName + "/Tables"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = probe(ctx, client, url)
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return fmt.Errorf("no answer: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if server := resp.Header.Get("Server"); !strings.HasPrefix(server, "Azurite-Table") {
		return fmt.Errorf("port answered as %q, not Azurite-Table", server)
	}
	return nil
}

// waitPortClosed returns once nothing accepts on the port any more, so a
// restart does not race the old listener.
func waitPortClosed(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(stopTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		conn.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("azurite: port %d still accepts connections after stop", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("azurite: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot is the nearest directory above the working directory holding
// go.mod: where node_modules (and so azurite-table) is. Tests find the
// repository the same way (testkit.Root).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("azurite: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("azurite: no go.mod above the working directory; set Options.RepoRoot")
		}
		dir = parent
	}
}

// limitedBuffer keeps the first bytes of the process output for error
// messages; the rest is dropped.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
