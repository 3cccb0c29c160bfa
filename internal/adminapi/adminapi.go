// Package adminapi is the operator REST API under /api/admin/: tenants
// (create, list, read, patch, lifecycle), consent links, on-demand
// revalidation, the PowerShell download, the audit trail, rejections and
// revalidation runs, plus its OpenAPI 3.1 document.
//
// Every route but the OpenAPI document needs an Entra ID bearer token with
// the app role Tenants.Read (GET) or Tenants.ReadWrite (everything else).
// Every successful mutating call writes an audit event naming the caller
// ("operator:<oid>"). Errors are RFC 9457 application/problem+json; domain
// error codes map to HTTP statuses in statusOf only.
//
// The route table (routes) is the single source of truth: it builds the mux
// and the tests compare it with openapi.yaml in both directions (paths there
// are relative to its one server URL, which must equal Prefix).
//
// The OpenAPI document is authored as openapi.yaml (embedded, with the
// provisioning v1 JSON Schema spliced in from contracts/provisioning.v1.schema.json)
// and served as JSON, without authentication, at GET /api/admin/openapi.json.
// OpenAPIJSON returns the same bytes for tooling.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/httpx"
	"github.com/onemeeting/cvi-onboarding/internal/operations"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/tenants"
)

// Prefix is where the API is mounted; every route lives below it.
const Prefix = "/api/admin/"

// Deps are the API's collaborators.
type Deps struct {
	Auth         *auth.Validator
	Provisioning *provisioning.Service
	Revalidation *revalidation.Service
	IPPolicy     domain.IPPolicy
	Regions      domain.Regions
	Now          func() time.Time
	Logger       *slog.Logger

	// Tenants serves one tenant's reads and changes (patch, lifecycle,
	// consent and status links, re-check) and their listings.
	Tenants *tenants.Service
	// LiveReminderAfter sets the tenant view's notLiveAfterConsent.
	LiveReminderAfter time.Duration

	// Operations answers the reads (search, overview, runs, events,
	// emails) and the dead-letter tools (its DeadLetters nil: 503).
	Operations *operations.Service
}

// API serves /api/admin/. It is safe for concurrent use.
type API struct {
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	openAPI []byte // the OpenAPI document as JSON
	// unrouted answers paths outside the mux's clean tree with a 404.
	unrouted http.Handler
}

// New checks deps, loads the OpenAPI document and builds the routes.
func New(deps Deps) (*API, error) {
	switch {
	case deps.Auth == nil:
		return nil, errors.New("adminapi: Auth is required")
	case deps.Provisioning == nil:
		return nil, errors.New("adminapi: Provisioning is required")
	case deps.Revalidation == nil:
		return nil, errors.New("adminapi: Revalidation is required")
	case deps.Operations == nil:
		return nil, errors.New("adminapi: Operations is required")
	case deps.Tenants == nil:
		return nil, errors.New("adminapi: Tenants is required")
	}
	if err := deps.Tenants.Validate(); err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	doc, err := OpenAPIJSON()
	if err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	a := &API{deps: deps, log: deps.Logger, now: deps.Now, mux: http.NewServeMux(), openAPI: doc}
	for _, rt := range routes {
		a.mux.Handle(rt.method+" "+rt.pattern, a.wrap(rt))
	}
	// Everything else under the prefix: 405 with Allow, or 404.
	a.mux.Handle(Prefix, a.wrap(route{pattern: Prefix, handle: (*API).notFound}))
	a.unrouted = a.wrap(route{pattern: Prefix, handle: func(_ *API, c *call) error {
		return httpError{status: http.StatusNotFound, kind: "not-found", title: "Not found", detail: "no admin API route matches " + c.r.URL.Path}
	}})
	return a, nil
}

// ServeHTTP routes a request under /api/admin/. Paths the mux would
// answer itself, in plain text (the bare base path, unclean paths it would
// redirect), get the problem+json 404 instead.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if clean := path.Clean(p); !strings.HasPrefix(p, Prefix) || (p != clean && p != clean+"/") {
		a.unrouted.ServeHTTP(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// route is one entry of the route table. role "" means anonymous.
type route struct {
	method  string
	pattern string // Go ServeMux path pattern; OpenAPI uses the same {name} syntax
	role    string
	body    bodyKind
	handle  func(*API, *call) error
}

// bodyKind says what request body a route accepts.
type bodyKind int

const (
	bodyNone     bodyKind = iota // not read
	bodyOptional                 // JSON object or nothing
	bodyRequired                 // JSON object
)

// routes is the route table: the mux and the OpenAPI consistency test both
// read it. It is never modified.
var routes = []route{
	{http.MethodGet, Prefix + "openapi.json", "", bodyNone, (*API).getOpenAPI},
	{http.MethodPost, Prefix + "tenants", auth.RoleReadWrite, bodyRequired, (*API).createTenant},
	{http.MethodGet, Prefix + "tenants", auth.RoleRead, bodyNone, (*API).searchTenants},
	{http.MethodGet, Prefix + "tenants/{tenantId}", auth.RoleRead, bodyNone, (*API).getTenant},
	{http.MethodPatch, Prefix + "tenants/{tenantId}", auth.RoleReadWrite, bodyRequired, (*API).patchTenant},
	{http.MethodDelete, Prefix + "tenants/{tenantId}", auth.RoleReadWrite, bodyOptional, (*API).offboardTenant},
	{http.MethodPost, Prefix + "tenants/{tenantId}/consent-link", auth.RoleReadWrite, bodyOptional, (*API).issueConsentLink},
	{http.MethodPost, Prefix + "tenants/{tenantId}/status-link", auth.RoleReadWrite, bodyOptional, (*API).rotateStatusLink},
	{http.MethodPost, Prefix + "tenants/{tenantId}/revalidate", auth.RoleReadWrite, bodyOptional, (*API).revalidateTenant},
	{http.MethodPost, Prefix + "tenants/{tenantId}/suspend", auth.RoleReadWrite, bodyOptional, (*API).suspendTenant},
	{http.MethodPost, Prefix + "tenants/{tenantId}/resume", auth.RoleReadWrite, bodyOptional, (*API).resumeTenant},
	{http.MethodGet, Prefix + "tenants/{tenantId}/powershell", auth.RoleRead, bodyNone, (*API).getPowerShell},
	{http.MethodGet, Prefix + "tenants/{tenantId}/events", auth.RoleRead, bodyNone, (*API).listEvents},
	{http.MethodGet, Prefix + "rejections", auth.RoleRead, bodyNone, (*API).listRejections},
	{http.MethodGet, Prefix + "revalidation-runs", auth.RoleRead, bodyNone, (*API).listRevalidationRuns},
	{http.MethodGet, Prefix + "revalidation-runs/{runId}", auth.RoleRead, bodyNone, (*API).getRevalidationRun},
	{http.MethodGet, Prefix + "overview", auth.RoleRead, bodyNone, (*API).getOverview},
	{http.MethodGet, Prefix + "events", auth.RoleRead, bodyNone, (*API).listAllEvents},
	{http.MethodGet, Prefix + "tenants/{tenantId}/emails", auth.RoleRead, bodyNone, (*API).listTenantEmails},
	{http.MethodGet, Prefix + "deadletters/{queue}", auth.RoleRead, bodyNone, (*API).listDeadLetters},
	{http.MethodPost, Prefix + "deadletters/{queue}/resubmit", auth.RoleReadWrite, bodyRequired, (*API).resubmitDeadLetters},
}

// call is one request being handled.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	ctx       context.Context
	route     route
	principal auth.Principal
	body      []byte // the JSON body; nil when absent or not read
}

// actor is the audit identity of the caller.
func (c *call) actor() string { return "operator:" + c.principal.ObjectID }

// operator is the caller as the tenants service audits them.
func (c *call) operator() domain.Actor { return domain.Actor{ID: c.actor(), Name: c.principal.Name} }

// realm names the API in WWW-Authenticate challenges.
const realm = "onemeeting-cvi-admin"

// retryAfterSeconds is what 503 answers ask clients to wait.
const retryAfterSeconds = "5"

// wrap adds, around a route's handler: panic recovery, authentication and
// role check, body reading, error mapping and the access log.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		rec := httpx.NewStatusRecorder(w)
		c := &call{w: rec, r: r, ctx: r.Context(), route: rt}
		defer func() {
			if p := recover(); p != nil {
				a.log.ErrorContext(c.ctx, "panic in admin API", "route", rt.pattern, "panic", p, "stack", string(debug.Stack()))
				if !rec.Wrote {
					a.writeError(c, domain.Errorf(domain.CodeInternal, "panic: %v", p))
				}
			}
			a.logCall(c, rec.Status, a.now().Sub(start))
		}()
		rec.Header().Set("Cache-Control", "no-store")
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		if err := a.serve(c); err != nil {
			a.writeError(c, err)
		}
	})
}

func (a *API) serve(c *call) error {
	if c.route.role != "" {
		p, err := a.deps.Auth.Authenticate(c.r)
		if err != nil {
			return authError{err: err}
		}
		c.principal = p
		if err := auth.Require(p, c.route.role); err != nil {
			return authError{err: err}
		}
	}
	if c.route.body != bodyNone {
		body, err := readBody(c)
		if err != nil {
			return err
		}
		c.body = body
	}
	return c.route.handle(a, c)
}

// logCall writes the access log line. Tokens, bodies and query strings
// (continuation tokens) are never logged.
func (a *API) logCall(c *call, status int, took time.Duration) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(c.ctx, level, "admin api call",
		slog.String("method", c.r.Method),
		slog.String("route", c.route.pattern),
		slog.Int("status", status),
		slog.String("oid", c.principal.ObjectID),
		httpx.DurationMS(took),
	)
}

// notFound answers paths under the prefix that no route serves: 405 with
// Allow when the path exists for other methods, else 404.
func (a *API) notFound(c *call) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := c.r.Clone(c.ctx)
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != Prefix {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		c.w.Header().Set("Allow", strings.Join(allowed, ", "))
		return httpError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", title: "Method not allowed",
			detail: c.r.Method + " is not supported here; allowed: " + strings.Join(allowed, ", ")}
	}
	return httpError{status: http.StatusNotFound, kind: "not-found", title: "Not found", detail: "no admin API route matches " + c.r.URL.Path}
}

func (a *API) getOpenAPI(c *call) error {
	c.w.Header().Set("Cache-Control", "public, max-age=300")
	c.w.Header().Set("Content-Type", "application/json")
	_, _ = c.w.Write(a.openAPI) // a failed write means the client left
	return nil
}
