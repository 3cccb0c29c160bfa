// Package handlers is the custom handler's HTTP surface: forwarded HTTP
// triggers under /api/... and host invocations at /{FunctionName}
// (reference/functions-custom-handler.md). The function table
// (functions.go) lists every function; each has its handler in
// handlers/<lower-case function name>.go.
package handlers

import (
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/events"
	"github.com/onemeeting/cvi-onboarding/internal/httpx"
	"github.com/onemeeting/cvi-onboarding/internal/notify"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/status"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// Deps are the server's collaborators, wired in main.
type Deps struct {
	Config *config.Config
	Store  domain.TenantStore
	Logger *slog.Logger
	Now    func() time.Time
	// Version identifies the build in health output.
	Version string

	Provisioning *provisioning.Service
	Consent      *consent.Service
	Notify       *notify.Service
	Revalidation *revalidation.Service
	Pages        *web.Renderer
	// Events publishes lifecycle events the commits left (RelayEvents timer); nil: none.
	Events *events.Relay
	// Status resolves status-page links; Live records join-page sightings.
	Status *status.Service
	Live   *status.Live
	// Admin serves /api/admin/ (the AdminApi function's catch-all route).
	Admin http.Handler
	// Publisher re-sends a message that failed transiently, with Retry's back-off.
	Publisher queue.Publisher
	Retry     queue.Backoff
}

// Server routes requests to the function handlers.
type Server struct {
	Deps
	mux   *routeMux
	limit *httpx.Limiter
}

// DefaultMaxInFlight is the in-flight bound without a Config (tests); the
// configured one is HTTP_MAX_IN_FLIGHT.
const DefaultMaxInFlight = 16

// busyRetryAfter is what a request refused under overload is told to wait.
const busyRetryAfter = 2 * time.Second

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	maxInFlight := DefaultMaxInFlight
	if d.Config != nil && d.Config.HTTPMaxInFlight > 0 {
		maxInFlight = d.Config.HTTPMaxInFlight
	}
	s := &Server{Deps: d, mux: &routeMux{ServeMux: http.NewServeMux()}, limit: httpx.NewLimiter(maxInFlight, busyRetryAfter, d.Logger)}
	s.routes()
	return s
}

// routes registers the function table, and GET / for the host's
// readiness poll, which is no function.
func (s *Server) routes() {
	// The host polls GET / until the handler answers: answer at once.
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("onemeeting-cvi handler\n"))
	})
	for _, f := range Functions() {
		h := f.Handle(s)
		for _, p := range f.Patterns() {
			s.mux.Handle(p, h)
		}
	}
}

// ServeHTTP bounds in-flight HTTP work, logs every request and turns
// panics into 500s.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.Now()
	rec := httpx.NewStatusRecorder(w)
	refused := false
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error("panic while handling request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !rec.Wrote {
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}
		// Only the path is logged: queries carry consent-link tokens,
		// `state` values and function keys.
		s.Logger.LogAttrs(r.Context(), levelFor(r, rec.Status, refused), "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.Status),
			httpx.DurationMS(s.Now().Sub(start)),
			slog.String("invocationId", r.Header.Get("X-Azure-Functions-InvocationId")),
		)
	}()
	if limited(r) {
		if !s.limit.TryAcquire() {
			refused = true
			s.limit.Refuse(rec, r, "/api/admin/")
			return
		}
		defer s.limit.Release()
	}
	if p := r.URL.Path; s.Admin != nil && (p == "/api/admin" || strings.HasPrefix(p, "/api/admin/")) {
		// Straight to the admin API, which answers every method and path
		// under it in problem+json (the mux would redirect or 404 in text).
		s.Admin.ServeHTTP(rec, r)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// Listener bounds the connections the handler holds open to a few times
// the in-flight bound: beyond it new connections wait in the kernel's
// accept queue, costing no handler memory. Without it an overload opens
// thousands of connections, each with a goroutine and buffers, before the
// in-flight bound can refuse anything. The Functions host itself keeps
// at most maxConcurrentRequests connections busy, plus queue invocations.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, 2*s.limit.Capacity()+64)
}

// limited reports the requests that count against HTTP_MAX_IN_FLIGHT: the
// forwarded HTTP triggers under /api/, except the health probe (which must
// answer while the instance is busy). Host invocations of queue and timer
// functions are bounded by the host itself (serviceBus.maxConcurrentCalls);
// refusing one would only burn a delivery.
func limited(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/api/healthz"
}

// levelFor: server errors at error level; static assets and load-shedding
// refusals (counted by the limiter's own warning) at debug; the rest info.
func levelFor(r *http.Request, status int, refused bool) slog.Level {
	switch {
	case refused:
		return slog.LevelDebug
	case status >= 500:
		return slog.LevelError
	case strings.HasPrefix(r.URL.Path, "/api/assets/"), strings.HasPrefix(r.URL.Path, "/console/assets/"):
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
