// Package funchost is a local Azure Functions host emulator: it reads
// functions/*/function.json, starts the Go custom handler (and restarts it when
// it exits) and drives it the way the Functions host does, with the real host's
// payload shapes: HTTP forwarding, Service Bus queue triggers with immediate
// redelivery and dead-lettering after maxDeliveryCount, timers. For `make run`
// and integration tests; facts and sources in the custom-handler reference
// (Microsoft Learn "Azure Functions custom handlers", Azure/azure-functions-host).
// It refuses to run inside Azure.
package funchost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
)

// Config configures a Host. Zero values take the documented defaults.
type Config struct {
	FunctionsDir string // contains <FunctionName>/function.json
	HostJSONPath string // host.json; empty = defaults (routePrefix "api", functionTimeout 5m)
	// HandlerURL is a custom handler that runs elsewhere (tests), e.g.
	// http://127.0.0.1:8080. Set it or Handler.
	HandlerURL string
	// Handler is the handler executable the host starts and restarts when it
	// exits, like the real host. Set it or HandlerURL.
	Handler    *HandlerProcess
	ListenAddr string            // default "127.0.0.1:7071"; tests pass "127.0.0.1:0"
	Settings   map[string]string // app settings for %SETTING% (falls back to LookupEnv, like app settings as env vars)
	// MaxDeliveryCount is the queues' maxDeliveryCount (Service Bus default 10);
	// QueueMaxDeliveryCount overrides it per queue (lower-case or exact name),
	// as the Bicep sets it per queue.
	MaxDeliveryCount      int
	QueueMaxDeliveryCount map[string]int
	MaxConcurrentCalls    int // per queue listener; default host.json extensions.serviceBus.maxConcurrentCalls, else 16
	// RedeliveryDelay, when set, holds an abandoned message back before its next
	// delivery. Nil (the default) redelivers at once, as Service Bus does
	// (functions-custom-handler reference §3): leave it nil unless a test
	// really needs the deviation.
	RedeliveryDelay          func(deliveryCount int) time.Duration
	DuplicateDetectionWindow time.Duration // default 10 min
	// Topics names the topics to create, each with its subscriptions (as
	// the Bicep declares them); PUT /admin/topics/... adds more.
	Topics map[string][]string
	// FunctionTimeout overrides host.json functionTimeout (tests use a short one).
	FunctionTimeout time.Duration
	// TimerStatus seeds a timer function's ScheduleStatus as the host reads it
	// from its monitor store at start (by function name). A seeded Next in the
	// past is a missed occurrence: the function runs at once with IsPastDue.
	TimerStatus map[string]TimerScheduleStatus
	Logger      *slog.Logger // default: text logs on stderr
	LookupEnv   func(string) (string, bool)

	// Handled, when set, is the handler's own function table
	// (handlers.Functions): New fails fast, naming both sides, when a
	// function folder has no entry, an entry has no folder, or their
	// trigger, route, methods or queue differ. A cross-check only: the
	// folders stay what the emulator runs, as on the real host.
	Handled []HandledFunction

	HandlerStartTimeout time.Duration // how long Start waits for GET HandlerURL/; default 30s
	MaxMessageSize      int           // bytes; default 256 KiB (Service Bus Standard)
}

// TimerScheduleStatus is a timer's saved status (UTC).
type TimerScheduleStatus struct {
	Last, Next, LastUpdated time.Time
}

const (
	defaultListenAddr          = "127.0.0.1:7071"
	defaultMaxDeliveryCount    = 10
	defaultMaxConcurrentCalls  = 16
	defaultDuplicateWindow     = 10 * time.Minute
	defaultHandlerStartTimeout = 30 * time.Second
	defaultMaxMessageSize      = 256 << 10
)

// Host states, as GET /admin/host/status reports them.
const (
	stateCreated      = "Created"
	stateInitializing = "Initializing"
	stateRunning      = "Running"
	stateStopping     = "Stopping"
	stateStopped      = "Stopped"
)

// Host is a running (or ready to run) emulator.
type Host struct {
	cfg     Config
	hostCfg hostConfig
	logger  *slog.Logger
	gate    *handlerGate // current handler URL; closed gate while the process restarts
	client  *http.Client
	id      string
	created time.Time

	functions []*function
	byName    map[string]*function // lower-case name
	routes    []*function          // HTTP functions in match order
	admin     http.Handler

	queuesMu sync.Mutex
	queues   map[string]*queue // lower-case name; Service Bus names are case-insensitive
	topics   *topicSet         // topics.go

	timersMu sync.Mutex
	timers   map[string]*timerStatus // by function name

	busy atomic.Int64 // running timer/admin invocations, for WaitIdle

	mu              sync.Mutex
	state           string
	listener        net.Listener
	server          *http.Server
	stopWorkers     context.CancelFunc
	invokeCtx       context.Context
	stopInvocations context.CancelFunc
	workers         sync.WaitGroup
	invocations     sync.WaitGroup
	stopSupervisor  context.CancelFunc
	supervisor      sync.WaitGroup

	fatal     chan struct{}
	fatalOnce sync.Once
	fatalErr  error
}

func refuseInAzure(lookup func(string) (string, bool)) error {
	if in, marker := azureenv.Detect(lookup); in {
		return fmt.Errorf("devhost: refusing to run inside Azure (environment variable %s is set); it is a local development tool", marker)
	}
	return nil
}

// New parses host.json and every function.json; errors name the file and the problem.
func New(cfg Config) (*Host, error) {
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	if err := refuseInAzure(cfg.LookupEnv); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = defaultListenAddr
	}
	if cfg.MaxDeliveryCount <= 0 {
		cfg.MaxDeliveryCount = defaultMaxDeliveryCount
	}
	if cfg.RedeliveryDelay == nil {
		cfg.RedeliveryDelay = func(int) time.Duration { return 0 }
	}
	if cfg.DuplicateDetectionWindow <= 0 {
		cfg.DuplicateDetectionWindow = defaultDuplicateWindow
	}
	if cfg.HandlerStartTimeout <= 0 {
		cfg.HandlerStartTimeout = defaultHandlerStartTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	base := ""
	switch {
	case cfg.Handler != nil && cfg.HandlerURL != "":
		return nil, errors.New("devhost: set HandlerURL or Handler, not both")
	case cfg.Handler != nil:
		if cfg.Handler.Path == "" {
			return nil, errors.New("devhost: Handler.Path is required")
		}
		hp := *cfg.Handler
		if hp.RestartDelay == nil {
			hp.RestartDelay = defaultRestartDelay
		}
		if hp.MaxFailedStarts <= 0 {
			hp.MaxFailedStarts = 3
		}
		if hp.StopTimeout <= 0 {
			hp.StopTimeout = 10 * time.Second
		}
		cfg.Handler = &hp
	default:
		hu, err := url.Parse(cfg.HandlerURL)
		if err != nil || (hu.Scheme != "http" && hu.Scheme != "https") || hu.Host == "" || hu.RawQuery != "" {
			return nil, fmt.Errorf("devhost: HandlerURL %q must be an absolute http(s) URL like http://127.0.0.1:8080", cfg.HandlerURL)
		}
		base = strings.TrimSuffix(hu.String(), "/")
	}
	if cfg.FunctionsDir == "" {
		return nil, errors.New("devhost: FunctionsDir is required")
	}
	hostCfg, err := loadHostJSON(cfg.HostJSONPath)
	if err != nil {
		return nil, fmt.Errorf("devhost: %w", err)
	}
	if cfg.FunctionTimeout > 0 {
		hostCfg.FunctionTimeout = cfg.FunctionTimeout
	}
	if cfg.MaxConcurrentCalls <= 0 {
		cfg.MaxConcurrentCalls = hostCfg.MaxConcurrentCalls
	}
	if cfg.MaxConcurrentCalls <= 0 {
		cfg.MaxConcurrentCalls = defaultMaxConcurrentCalls
	}
	res := settingResolver{settings: cfg.Settings, lookup: cfg.LookupEnv}
	fns, folders, err := loadFunctions(cfg.FunctionsDir, res, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("devhost: %w", err)
	}
	if cfg.Handled != nil {
		if err := checkHandled(cfg.FunctionsDir, folders, fns, hostCfg.RoutePrefix, cfg.Handled); err != nil {
			return nil, fmt.Errorf("devhost: %w", err)
		}
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the handler is local; never send it through a proxy
	transport.DisableCompression = true
	transport.MaxIdleConnsPerHost = 64
	h := &Host{
		cfg:     cfg,
		hostCfg: hostCfg,
		logger:  cfg.Logger,
		gate:    newHandlerGate(base),
		client: &http.Client{
			Transport: transport,
			// The host does not follow redirects: the handler's answer goes back as it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		id:        uuid.NewString(),
		created:   time.Now(),
		functions: fns,
		byName:    map[string]*function{},
		routes:    sortRoutes(fns),
		queues:    map[string]*queue{},
		topics:    newTopicSet(cfg.DuplicateDetectionWindow, cfg.Topics),
		timers:    map[string]*timerStatus{},
		state:     stateCreated,
		fatal:     make(chan struct{}),
	}
	h.invokeCtx, h.stopInvocations = context.WithCancel(context.Background())
	for _, fn := range fns {
		h.byName[strings.ToLower(fn.Name)] = fn
		switch fn.Trigger {
		case triggerServiceBus:
			h.queue(fn.QueueName).listeners++
		case triggerTimer:
			st := timerStatus{}
			if seed, ok := cfg.TimerStatus[fn.Name]; ok {
				st = timerStatus(seed)
			}
			h.timers[fn.Name] = &st
		}
		for _, ob := range fn.Outputs {
			h.queue(ob.QueueName)
		}
	}
	h.admin = h.adminHandler()
	return h, nil
}

// queue returns the named queue, creating it on first use.
func (h *Host) queue(name string) *queue {
	h.queuesMu.Lock()
	defer h.queuesMu.Unlock()
	key := strings.ToLower(name)
	q, ok := h.queues[key]
	if !ok {
		q = newQueue(name, h.cfg.DuplicateDetectionWindow, h.maxDeliveryCount(name))
		h.queues[key] = q
	}
	return q
}

// maxDeliveryCount is the queue's maxDeliveryCount: per queue when configured
// (Service Bus queue names are case-insensitive), else MaxDeliveryCount.
func (h *Host) maxDeliveryCount(name string) int {
	for k, v := range h.cfg.QueueMaxDeliveryCount {
		if strings.EqualFold(k, name) && v > 0 {
			return v
		}
	}
	return h.cfg.MaxDeliveryCount
}

func (h *Host) existingQueue(name string) (*queue, bool) {
	h.queuesMu.Lock()
	defer h.queuesMu.Unlock()
	q, ok := h.queues[strings.ToLower(name)]
	return q, ok
}

// Start listens, waits until the handler answers GET HandlerURL/ (any status),
// then starts queue listeners and timers.
func (h *Host) Start(ctx context.Context) error {
	if err := refuseInAzure(h.cfg.LookupEnv); err != nil {
		return err
	}
	h.mu.Lock()
	if h.state != stateCreated {
		state := h.state
		h.mu.Unlock()
		return fmt.Errorf("devhost: Start called on a host that is %s", state)
	}
	h.state = stateInitializing
	h.mu.Unlock()

	ln, err := net.Listen("tcp", h.cfg.ListenAddr)
	if err != nil {
		h.setState(stateStopped)
		return fmt.Errorf("devhost: listen on %s: %w", h.cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(h.logger.Handler(), slog.LevelWarn),
	}
	h.mu.Lock()
	h.listener, h.server = ln, srv
	h.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.logger.Error("devhost listener stopped", "error", err)
		}
	}()
	h.logger.Info("devhost listening", "url", h.URL(), "functions", len(h.functions))

	if h.cfg.Handler != nil {
		rp, err := h.launchAndWait(ctx)
		if err != nil {
			_ = srv.Close()
			h.setState(stateStopped)
			return err
		}
		supCtx, stopSup := context.WithCancel(context.Background())
		h.mu.Lock()
		h.stopSupervisor = stopSup
		h.mu.Unlock()
		h.supervisor.Add(1)
		go func() {
			defer h.supervisor.Done()
			h.supervise(supCtx, rp)
		}()
	} else {
		if err := h.waitForHandlerAt(ctx, h.gate.url()); err != nil {
			_ = srv.Close()
			h.setState(stateStopped)
			return err
		}
		h.gate.setUp(h.gate.url())
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateInitializing { // Close ran meanwhile
		if h.stopSupervisor != nil {
			h.stopSupervisor() // Close may have missed it: stop the handler process too
		}
		return errors.New("devhost: closed during Start")
	}
	workersCtx, stop := context.WithCancel(context.Background())
	h.stopWorkers = stop
	for _, fn := range h.functions {
		switch fn.Trigger {
		case triggerServiceBus:
			q := h.queue(fn.QueueName)
			h.workers.Add(1)
			go func() {
				defer h.workers.Done()
				h.runListener(workersCtx, fn, q)
			}()
		case triggerTimer:
			// A first run sees Last and LastUpdated at 0001-01-01 (no saved status).
			if st := h.timerStatusOf(fn.Name); st.Next.IsZero() {
				st.Next = fn.Schedule.Next(time.Now().UTC())
				h.setTimerStatus(fn.Name, st)
			}
			h.workers.Add(1)
			go func() {
				defer h.workers.Done()
				h.runTimer(workersCtx, fn)
			}()
		}
	}
	h.state = stateRunning
	for _, fn := range h.functions {
		h.logger.Info("function loaded", "function", fn.Name, "trigger", fn.Trigger, "detail", describe(fn, h.hostCfg.RoutePrefix))
	}
	return nil
}

func describe(fn *function, prefix string) string {
	switch fn.Trigger {
	case triggerHTTP:
		methods := "*"
		if len(fn.Methods) > 0 {
			methods = strings.Join(fn.Methods, ",")
		}
		p := "/" + strings.Trim(fn.Route.text, "/")
		if prefix != "" {
			p = "/" + prefix + p
		}
		return methods + " " + p
	case triggerServiceBus:
		return "queue " + fn.QueueName
	default:
		return "schedule " + fn.ScheduleText
	}
}

func (h *Host) setState(s string) {
	h.mu.Lock()
	h.state = s
	h.mu.Unlock()
}

func (h *Host) currentState() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// waitForHandlerAt polls GET base/ until any HTTP answer, as the host does at start.
func (h *Host) waitForHandlerAt(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.HandlerStartTimeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var lastErr error
	for {
		reqCtx, reqCancel := context.WithTimeout(ctx, 2*time.Second)
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, base+"/", nil)
		if err != nil {
			reqCancel()
			return fmt.Errorf("devhost: readiness request: %w", err)
		}
		resp, err := h.client.Do(req)
		if err == nil {
			resp.Body.Close()
			reqCancel()
			return nil
		}
		reqCancel()
		lastErr = err
		select {
		case <-ctx.Done():
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("devhost: waiting for the custom handler at %s: %w", base, ctx.Err())
			}
			return fmt.Errorf("devhost: custom handler at %s did not answer GET / within %s: %w", base, h.cfg.HandlerStartTimeout, lastErr)
		case <-ticker.C:
		}
	}
}

// URL is the listener's base URL (http://127.0.0.1:<port>), empty before Start.
func (h *Host) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listener == nil {
		return ""
	}
	addr := h.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Close stops timers and queue listeners, waits for in-flight invocations (cancelling
// them if ctx ends first) and closes the listener.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.state == stateStopping || h.state == stateStopped {
		h.mu.Unlock()
		return nil
	}
	h.state = stateStopping
	stop, srv, stopSup := h.stopWorkers, h.server, h.stopSupervisor
	h.mu.Unlock()

	if stop != nil {
		stop()
	}
	done := make(chan struct{})
	go func() {
		h.workers.Wait()
		h.invocations.Wait()
		close(done)
	}()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		h.stopInvocations()
		<-done // cancelled requests return promptly
		errs = append(errs, fmt.Errorf("devhost: in-flight invocations cancelled: %w", ctx.Err()))
	}
	h.stopInvocations()
	if stopSup != nil {
		stopSup() // stops the handler process group (SIGTERM, then SIGKILL)
		h.supervisor.Wait()
	}
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			errs = append(errs, fmt.Errorf("devhost: shut down listener: %w", err))
		}
	}
	h.setState(stateStopped)
	return errors.Join(errs...)
}

// startInvocation registers an invocation unless the host is stopping.
func (h *Host) startInvocation() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateRunning {
		return false
	}
	h.invocations.Add(1)
	return true
}

// Enqueue sends a message to a queue (created on demand). An empty MessageID gets a
// UUID; a MessageID seen within the duplicate-detection window is dropped (duplicate=true).
func (h *Host) Enqueue(queueName string, m Message) (duplicate bool, err error) {
	queueName = strings.TrimSpace(queueName)
	if queueName == "" {
		return false, errors.New("devhost: queue name is empty")
	}
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	if err := validateMessage(m, h.cfg.MaxMessageSize); err != nil {
		return false, fmt.Errorf("devhost: %w", err)
	}
	q, known := h.existingQueue(queueName)
	if !known {
		q = h.queue(queueName)
		h.logger.Warn("queue created on demand; no function reads it", "queue", queueName)
	}
	if m.ApplicationProperties != nil {
		props := make(map[string]any, len(m.ApplicationProperties))
		for k, v := range m.ApplicationProperties {
			props[k] = v
		}
		m.ApplicationProperties = props
	}
	dup := q.enqueue(m, time.Now())
	if dup {
		h.logger.Info("duplicate message dropped", "queue", queueName, "messageId", m.MessageID)
	}
	return dup, nil
}

// EnqueueID is Enqueue returning the (possibly generated) message ID.
func (h *Host) EnqueueID(queueName string, m Message) (messageID string, duplicate bool, err error) {
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	dup, err := h.Enqueue(queueName, m)
	return m.MessageID, dup, err
}

// DeadLetters returns the queue's dead-lettered messages, oldest first.
func (h *Host) DeadLetters(queueName string) []DeadLetter {
	q, ok := h.existingQueue(queueName)
	if !ok {
		return nil
	}
	return q.deadLettersCopy()
}

// QueueStats counts the queue's messages (all zero for an unknown queue).
func (h *Host) QueueStats(queueName string) QueueStats {
	q, ok := h.existingQueue(queueName)
	if !ok {
		return QueueStats{Queue: queueName}
	}
	return q.stats(time.Now())
}

// AllQueueStats returns the stats of every queue, sorted by name.
func (h *Host) AllQueueStats() []QueueStats {
	h.queuesMu.Lock()
	qs := make([]*queue, 0, len(h.queues))
	for _, q := range h.queues {
		qs = append(qs, q)
	}
	h.queuesMu.Unlock()
	now := time.Now()
	out := make([]QueueStats, 0, len(qs))
	for _, q := range qs {
		out = append(out, q.stats(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out
}

// WaitIdle returns once no queue that a function reads holds active or in-flight
// messages (future scheduled ones don't count) and no timer/admin invocation runs.
// Queues nobody reads are ignored: nothing would ever drain them.
func (h *Host) WaitIdle(ctx context.Context) error {
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for {
		if h.idle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devhost: wait for idle: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}

func (h *Host) idle() bool {
	if h.busy.Load() > 0 {
		return false
	}
	for _, s := range h.AllQueueStats() {
		if s.Listeners > 0 && (s.Active > 0 || s.InFlight > 0) {
			return false
		}
	}
	return h.busy.Load() == 0
}

// ServeHTTP routes /admin/... to the admin API and everything else to HTTP functions.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/") {
		h.admin.ServeHTTP(w, r)
		return
	}
	h.serveFunctionRequest(w, r)
}
