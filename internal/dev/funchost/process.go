package funchost

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// HandlerProcess is the custom handler executable the host starts, watches and
// restarts, as the Functions host does with customHandler.description: a free
// port in FUNCTIONS_CUSTOMHANDLER_PORT, app settings as environment variables.
type HandlerProcess struct {
	Path   string
	Args   []string
	Dir    string
	Env    []string // full environment (os.Environ() plus app settings); the port variables are added
	Stdout io.Writer
	Stderr io.Writer
	// RestartDelay is the wait before restart number n (1, 2, …) of a handler
	// that exited; default 0 for the first, then 1s, 2s, 4s … capped at 10s.
	RestartDelay func(n int) time.Duration
	// MaxFailedStarts is how many consecutive starts may exit before answering
	// GET / before the host gives up (Fatal); default 3.
	MaxFailedStarts int
	// StopTimeout is how long Close waits after SIGTERM before SIGKILL; default 10s.
	StopTimeout time.Duration
}

func defaultRestartDelay(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	return min(time.Second<<min(n-2, 4), 10*time.Second)
}

// handlerGate tells queue listeners whether the handler is up. The real host
// stops its listeners while it restarts a dead worker, so messages are not
// burned against a handler that is not there.
type handlerGate struct {
	mu   sync.Mutex
	base string        // current handler URL, no trailing slash
	up   chan struct{} // closed while the handler is up
}

func newHandlerGate(base string) *handlerGate {
	return &handlerGate{base: base, up: make(chan struct{})}
}

func (g *handlerGate) url() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.base
}

func (g *handlerGate) setUp(base string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.base = base
	select {
	case <-g.up:
	default:
		close(g.up)
	}
}

func (g *handlerGate) setDown() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.up:
		g.up = make(chan struct{})
	default:
	}
}

// wait blocks until the handler is up or ctx ends.
func (g *handlerGate) wait(ctx context.Context) bool {
	g.mu.Lock()
	up := g.up
	g.mu.Unlock()
	select {
	case <-up:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitDown returns once the gate is down or after d.
func (g *handlerGate) waitDown(d time.Duration) {
	deadline := time.Now().Add(d)
	for g.isUp() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *handlerGate) isUp() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.up:
		return true
	default:
		return false
	}
}

// runningProcess is one start of the handler.
type runningProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's result, valid after exited
}

func (p *runningProcess) stop(timeout time.Duration) {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM) // the whole group: no grandchild outlives the stack
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
	}
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProcess launches the handler on a fresh port.
func (h *Host) startProcess() (*runningProcess, string, error) {
	hp := h.cfg.Handler
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(hp.Path, hp.Args...)
	cmd.Dir = hp.Dir
	env := hp.Env
	if env == nil {
		env = os.Environ()
	}
	p := strconv.Itoa(port)
	cmd.Env = append(append([]string(nil), env...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+p, "FUNCTIONS_HTTPWORKER_PORT="+p,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+h.id)
	cmd.Stdout, cmd.Stderr = hp.Stdout, hp.Stderr
	cmd.SysProcAttr = handlerSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("devhost: start custom handler %s: %w", hp.Path, err)
	}
	rp := &runningProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		rp.err = cmd.Wait()
		close(rp.exited)
	}()
	h.logger.Info("custom handler started", "pid", cmd.Process.Pid, "port", port)
	return rp, "http://127.0.0.1:" + p, nil
}

// launchAndWait starts the handler and waits until it answers GET /; an exit
// before that is an error naming the exit status.
func (h *Host) launchAndWait(ctx context.Context) (*runningProcess, error) {
	rp, base, err := h.startProcess()
	if err != nil {
		return nil, err
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-rp.exited:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	if err := h.waitForHandlerAt(waitCtx, base); err != nil {
		select {
		case <-rp.exited:
			return nil, fmt.Errorf("devhost: custom handler exited before answering GET / (%v); its log says why", rp.err)
		default:
		}
		rp.stop(h.cfg.Handler.StopTimeout)
		return nil, err
	}
	h.gate.setUp(base)
	return rp, nil
}

// supervise restarts the handler whenever it exits, until ctx ends. In-flight
// invocations fail against the dead process and their messages are redelivered
// once the new one is up. After MaxFailedStarts starts in a row that never come
// up it reports on Fatal and stops.
func (h *Host) supervise(ctx context.Context, rp *runningProcess) {
	restarts, failedStarts := 0, 0
	for {
		upSince := time.Now()
		select {
		case <-ctx.Done():
			rp.stop(h.cfg.Handler.StopTimeout)
			return
		case <-rp.exited:
		}
		h.gate.setDown()
		if time.Since(upSince) > time.Minute {
			restarts = 0 // it ran fine for a while: restart at once again
		}
		restarts++
		delay := h.cfg.Handler.RestartDelay(restarts)
		h.logger.Error("custom handler exited; restarting it (in-flight invocations fail and their messages are redelivered)",
			"exit", fmt.Sprint(rp.err), "restart", restarts, "restartInMs", delay.Milliseconds())
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			next, err := h.launchAndWait(ctx)
			if err == nil {
				rp, failedStarts = next, 0
				h.logger.Info("custom handler restarted", "restart", restarts, "url", h.gate.url())
				break
			}
			if ctx.Err() != nil {
				return
			}
			failedStarts++
			if failedStarts >= h.cfg.Handler.MaxFailedStarts {
				h.fail(fmt.Errorf("custom handler did not come back after %d starts: %w", failedStarts, err))
				return
			}
			restarts++
			delay = h.cfg.Handler.RestartDelay(restarts)
			h.logger.Error("custom handler restart failed; trying again", "error", err.Error(), "restartInMs", delay.Milliseconds())
		}
	}
}

// fail reports a fatal host error once on Fatal.
func (h *Host) fail(err error) {
	h.fatalOnce.Do(func() {
		h.fatalErr = err
		close(h.fatal)
	})
}

// Fatal is closed when the host cannot go on (the handler process does not
// come back); Err then says why. `make run` exits on it instead of hanging.
func (h *Host) Fatal() <-chan struct{} { return h.fatal }

// Err is the reason Fatal was closed, nil before.
func (h *Host) Err() error {
	select {
	case <-h.fatal:
		return h.fatalErr
	default:
		return nil
	}
}
