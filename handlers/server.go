// Package handlers is the custom handler's HTTP surface: forwarded HTTP
// triggers under /api/... and host invocations at /{FunctionName}
// (reference/functions-custom-handler.md). One file per function.
package handlers

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/httpx"
	"github.com/onemeeting/cvi-onboarding/internal/notify"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
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
	// Admin serves /api/admin/ (the AdminApi function's catch-all route).
	Admin http.Handler
	// Publisher re-sends a message that failed transiently, with Retry's back-off.
	Publisher queue.Publisher
	Retry     queue.Backoff
}

// Server routes requests to the function handlers.
type Server struct {
	Deps
	mux *http.ServeMux
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Deps: d, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	// The host polls GET / until the handler answers: answer at once.
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("onemeeting-cvi handler\n"))
	})
	s.mux.Handle("GET /api/healthz", s.handleHealth())
	s.mux.Handle("GET /api/adminconsent", s.handleAdminConsent())
	s.mux.Handle("GET /api/adminconsent/callback", s.handleConsentCallback())
	s.mux.Handle("GET /api/join/{code}", s.handleJoin())
	s.mux.Handle("GET /api/join/{code}/powershell", s.handleScriptDownload())
	s.mux.Handle("GET /api/assets/{name}", s.Pages.AssetHandler())
	s.mux.Handle("/api/admin/{path...}", s.Admin)
	consoleHandler := s.handleConsole()
	s.mux.Handle("GET /console/{path...}", consoleHandler)
	s.mux.Handle("GET /console", consoleHandler)
	s.mux.Handle("POST /ProvisionTenant", s.handleProvisionTenant())
	s.mux.Handle("POST /SendEmail", s.handleSendEmail())
	s.mux.Handle("POST /RevalidateConsent", s.handleRevalidateConsent())
	s.mux.Handle("POST /RevalidateBatch", s.handleRevalidateBatch())
}

// ServeHTTP logs every request and turns panics into 500s.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.Now()
	rec := httpx.NewStatusRecorder(w)
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error("panic while handling request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !rec.Wrote {
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}
		// Only the path is logged: queries carry consent-link tokens,
		// `state` values and function keys.
		s.Logger.LogAttrs(r.Context(), levelFor(rec.Status), "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.Status),
			slog.Duration("duration", s.Now().Sub(start)),
			slog.String("invocationId", r.Header.Get("X-Azure-Functions-InvocationId")),
		)
	}()
	s.mux.ServeHTTP(rec, r)
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
