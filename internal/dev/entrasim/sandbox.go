// Package entrasim is a local simulator of the Microsoft identity platform
// (admin-consent page, OpenID metadata, token endpoint, JWKS) and of the
// Microsoft Graph endpoints the service uses. It speaks the real wire formats
// so that azidentity and msgraph-sdk-go work against it unchanged. It is for
// `make run`, integration/browser tests and benchmarks only, and refuses to
// start inside Azure.
//
// Wiring (reference identity-graph.md §5, §8):
//
//	azidentity: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: sb.AuthorityHost()},
//	            Transport: sb.HTTPClient()} and DisableInstanceDiscovery: true.
//	msgraph:    NewGraphServiceClientWithCredentialsAndHosts(cred, scopes, []string{"127.0.0.1"}),
//	            then adapter.SetBaseUrl(sb.GraphBaseURL()).
//	browser:    sb.AdminConsentURL(...) or ConsentHost()+"{tenant}/v2.0/adminconsent?...".
//
// Tenant GUIDs exist implicitly (no service principal until consent); other
// tenant names answer AADSTS90002.
package entrasim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// App is a registered multi-tenant application.
type App struct {
	AppID       string
	DisplayName string
	// ClientSecret "" accepts any secret. client_assertion JWTs are always accepted.
	ClientSecret string
}

// Options configure a Sandbox.
type Options struct {
	// OperatorTenantID is the provider's own tenant: mail is sent from here and
	// operator tokens are issued here. Every App has an enabled service
	// principal here with the required roles (and no Mail.Send role: see Start).
	OperatorTenantID string
	Apps             []App
	// AdminAPIClientID is the admin API app's client ID: the aud of v2.0
	// operator tokens, which Entra always sets to the API's client ID GUID
	// (default DefaultAdminAPIClientID).
	AdminAPIClientID string
	// AdminAPIAudience is the admin API's Application ID URI: the aud of
	// v1.0 operator tokens (default api://onemeeting-cvi-admin).
	AdminAPIAudience string
	// AdminAPITokenVersion is the requestedAccessTokenVersion of the admin
	// API's app manifest: 2 (default; the runbook sets it) or 1 (what Entra
	// issues while the manifest leaves it null). OperatorClaims.Version
	// overrides it per token.
	AdminAPITokenVersion int
	// OutboxDir, if set, receives <seq>-<kind-or-subject-slug>.eml and .html for every sendMail.
	OutboxDir string
	// AllowedRedirectPrefixes restricts admin-consent redirect_uri values by
	// prefix. Empty: any http://127.0.0.1:* or http://localhost:* URI.
	AllowedRedirectPrefixes []string
	Logger                  *slog.Logger
	// LookupEnv detects Azure (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Seed drives the deterministic 429 fault injection.
	Seed uint64
	// TLSAddr and HTTPAddr are loopback listen addresses (default "127.0.0.1:0").
	// Fixed ports let `make run` write stable settings.
	TLSAddr  string
	HTTPAddr string
	// MaxStoredMail bounds SentMail() memory (default 10000; oldest dropped).
	MaxStoredMail int
	// SigningKeyBits is the RSA key size (default 2048, as Entra). RS256
	// signing dominates the cost of a token (~1.2 ms at 2048 bits here);
	// 1024 is ~4x faster for benchmarks, but validators that insist on 2048
	// bits (internal/auth does) reject operator tokens signed with it.
	SigningKeyBits int

	// ConsoleClientID is the operator console's SPA client ID (default
	// ConsoleClientID); ConsoleRedirectURIs its registered redirect URIs
	// (empty: any loopback .../console/); ConsoleTokenLifetime the lifetime
	// of its access tokens (default 3599 s). See spa.go.
	ConsoleClientID      string
	ConsoleRedirectURIs  []string
	ConsoleTokenLifetime time.Duration
}

// Scenario describes how a tenant behaves.
type Scenario struct {
	// Deleted makes the tenant unknown (AADSTS90002).
	Deleted bool
	// GrantRoles are the app roles granted on consent; nil means all required
	// roles, an empty non-nil slice means none (token without roles claim).
	GrantRoles []string
	// SPDisabled creates the service principal disabled on consent.
	SPDisabled bool
	// Faults, when non-zero, replace the global faults for this tenant.
	Faults Faults
	// RegionScope is tenant_region_scope in the metadata and token ("EU" if empty).
	RegionScope string

	// RoleReplicationLag: the roles granted on consent appear in tokens only
	// this long after the consent; until then tokens carry no roles claim.
	// Entra ID documents a replication delay after a grant without a figure
	// (reference identity-graph.md §2 "replication delay").
	RoleReplicationLag time.Duration
	// Consent-verdict fidelity knobs.
	// MissingSPCode is what a client-credentials request answers while our
	// app has no service principal here: 700016 (default; HTTP 400
	// unauthorized_client) or 7000229 (HTTP 401 invalid_client, what Entra
	// answers today per Microsoft Learn's Teams app authentication
	// troubleshooting page).
	MissingSPCode int
	// DisabledByMicrosoftStatus is the service principal's
	// disabledByMicrosoftStatus on consent: "" (null), "NotDisabled" or
	// "DisabledDueToViolationOfServicesAgreement" (Graph servicePrincipal
	// resource). SetDisabledByMicrosoft changes an existing one.
	DisabledByMicrosoftStatus string
	// OpaqueTokens issues Graph access tokens that are not JWTs (Entra:
	// "tokens for Microsoft services can use a special format that will not
	// validate as a JWT"); Graph still accepts them.
	OpaqueTokens bool
}

// Faults inject failures before the normal answer. When neither ApplyToToken
// nor ApplyToGraph is set they apply to both. TokenEndpointDown always
// applies to the token endpoint only.
type Faults struct {
	Latency           time.Duration
	Rate429           float64
	RetryAfterSeconds int
	Status503         bool
	TokenEndpointDown bool
	ApplyToToken      bool
	ApplyToGraph      bool
}

func (f Faults) toToken() bool { return f.ApplyToToken || !f.ApplyToGraph }
func (f Faults) toGraph() bool { return f.ApplyToGraph || !f.ApplyToToken }

// Stats are counters since Start.
type Stats struct {
	TokenRequests            int64
	TokensIssued             int64
	TokenRequestsByTenant    map[string]int64
	GraphRequests            int64
	GraphRequestsByTenant    map[string]int64
	LowPriorityGraphRequests int64
	Served429                int64
	Served503                int64
	MaxConcurrentGraph       int64
	MailSent                 int64
}

// Sandbox is a running simulator. All methods are safe for concurrent use.
type Sandbox struct {
	log              *slog.Logger
	operatorTenant   string
	adminAudience    string
	adminClientID    string
	adminTokenVer    int
	outboxDir        string
	redirectPrefixes []string
	seed             uint64
	maxStoredMail    int
	apps             map[string]App // lower-case appId → app; immutable after Start

	signer     *signer
	caPEM      []byte
	httpClient *http.Client
	pages      *template.Template
	consentCSP string // style hash part of the consent page CSP

	authorityHost string
	consentHost   string

	tlsSrv, plainSrv *http.Server
	stop             context.CancelFunc
	closeOnce        sync.Once
	closeErr         error
	served           sync.WaitGroup

	tenants sync.Map // lower-case tenant ID → *tenant
	faults  atomic.Pointer[Faults]

	faultCounter  atomic.Uint64
	tokenRequests atomic.Int64
	tokensIssued  atomic.Int64
	graphRequests atomic.Int64
	lowPriority   atomic.Int64
	served429     atomic.Int64
	served503     atomic.Int64
	graphInFlight atomic.Int64
	maxInFlight   atomic.Int64
	mailSent      atomic.Int64

	spa *spaState // console sign-in (spa.go)

	mailMu  sync.Mutex
	mail    []SentMail
	mailSeq int

	// opaque maps issued non-JWT Graph tokens to their claims (Scenario.OpaqueTokens).
	opaqueMu sync.Mutex
	opaque   map[string]graphClaims
}

// tenant is the state of one directory. Fields under mu; counters and faults lock-free.
type tenant struct {
	id string

	mu              sync.Mutex
	scenario        Scenario
	deleted         bool
	graphResourceID string // Microsoft Graph's own SP object id in this tenant
	sps             []*servicePrincipal

	faults        atomic.Pointer[Faults] // nil: use global
	tokenRequests atomic.Int64
	graphRequests atomic.Int64
}

type servicePrincipal struct {
	id          string
	appID       string
	displayName string
	enabled     bool
	roles       []string
	grantedAt   time.Time
	// disabledByMicrosoft is disabledByMicrosoftStatus ("" = null).
	disabledByMicrosoft string
}

// Start generates the CA, TLS leaf and signing key, and serves the TLS
// (identity) and plain-http (consent page, Graph, control) listeners until
// Close is called or ctx is done.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if inAzure, marker := azureenv.Detect(lookup); inAzure {
		return nil, fmt.Errorf("sandbox: refusing to start inside Azure (environment variable %s is set); the sandbox simulates Microsoft sign-in and must only run locally", marker)
	}
	s, err := newSandbox(opts)
	if err != nil {
		return nil, err
	}
	if err := s.listen(ctx, opts); err != nil {
		return nil, err
	}
	s.log.Info("sandbox identity platform and Graph started (SANDBOX, not Microsoft)",
		"authority_host", s.authorityHost, "consent_host", s.consentHost, "graph", s.GraphBaseURL(),
		"operator_tenant", s.operatorTenant)
	return s, nil
}

func newSandbox(opts Options) (*Sandbox, error) {
	operator := strings.ToLower(strings.TrimSpace(opts.OperatorTenantID))
	if !domain.IsGUID(operator) {
		return nil, fmt.Errorf("sandbox: OperatorTenantID %q must be a tenant GUID", opts.OperatorTenantID)
	}
	s := &Sandbox{
		log:              opts.Logger,
		operatorTenant:   operator,
		adminAudience:    opts.AdminAPIAudience,
		adminClientID:    strings.ToLower(strings.TrimSpace(opts.AdminAPIClientID)),
		adminTokenVer:    opts.AdminAPITokenVersion,
		outboxDir:        opts.OutboxDir,
		redirectPrefixes: slices.Clone(opts.AllowedRedirectPrefixes),
		seed:             opts.Seed,
		maxStoredMail:    opts.MaxStoredMail,
		apps:             make(map[string]App, len(opts.Apps)),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "sandbox")
	if s.adminAudience == "" {
		s.adminAudience = "api://onemeeting-cvi-admin"
	}
	if s.adminClientID == "" {
		s.adminClientID = DefaultAdminAPIClientID
	}
	if !domain.IsGUID(s.adminClientID) {
		return nil, fmt.Errorf("sandbox: AdminAPIClientID %q must be the admin API app's client ID (a GUID)", opts.AdminAPIClientID)
	}
	switch s.adminTokenVer {
	case 0:
		s.adminTokenVer = 2
	case 1, 2:
	default:
		return nil, fmt.Errorf("sandbox: AdminAPITokenVersion %d must be 1 or 2", opts.AdminAPITokenVersion)
	}
	if s.maxStoredMail <= 0 {
		s.maxStoredMail = 10000
	}
	for _, a := range opts.Apps {
		key := strings.ToLower(strings.TrimSpace(a.AppID))
		if key == "" {
			return nil, errors.New("sandbox: an App has an empty AppID")
		}
		if _, dup := s.apps[key]; dup {
			return nil, fmt.Errorf("sandbox: App %s registered twice", a.AppID)
		}
		if a.DisplayName == "" {
			a.DisplayName = a.AppID
		}
		s.apps[key] = a
	}
	s.faults.Store(&Faults{})
	if s.spa = newSPAState(opts); s.spa.clientID == "" {
		s.spa.clientID = ConsoleClientID
	}

	var err error
	if s.signer, err = newSigner(opts.SigningKeyBits); err != nil {
		return nil, err
	}
	if s.pages, s.consentCSP, err = parsePages(); err != nil {
		return nil, err
	}
	if s.outboxDir != "" {
		if err := os.MkdirAll(s.outboxDir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: create outbox %s: %w", s.outboxDir, err)
		}
		if s.mailSeq, err = lastOutboxSeq(s.outboxDir); err != nil {
			return nil, err
		}
	}

	// The provider's home tenant holds every app's own service principal.
	// No Mail.Send among them: the runbook grants it with Exchange RBAC for
	// Applications, which puts no role in the token (identity-graph.md §4),
	// so every local mail goes out the way it does in production.
	homeRoles := RequiredRoles()
	t := s.tenantFor(operator, true)
	for _, a := range opts.Apps {
		t.upsertSP(a, homeRoles, true, time.Now().UTC())
	}
	return s, nil
}

func (s *Sandbox) listen(ctx context.Context, opts Options) error {
	cert, caPEM, pool, err := newTLSMaterial()
	if err != nil {
		return err
	}
	s.caPEM = caPEM
	tlsLn, err := listenLoopback(opts.TLSAddr)
	if err != nil {
		return err
	}
	plainLn, err := listenLoopback(opts.HTTPAddr)
	if err != nil {
		_ = tlsLn.Close()
		return err
	}
	s.authorityHost = "https://" + tlsLn.Addr().String() + "/"
	s.consentHost = "http://" + plainLn.Addr().String() + "/"

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	transport.MaxIdleConnsPerHost = 256
	s.httpClient = &http.Client{Transport: transport}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	base := func(net.Listener) context.Context { return runCtx }
	s.tlsSrv = &http.Server{
		Handler:           s.identityHandler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       base,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.plainSrv = &http.Server{
		Handler:           s.plainHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       base,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served.Add(2)
	go func() {
		defer s.served.Done()
		if err := s.tlsSrv.ServeTLS(tlsLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox TLS listener stopped", "err", err)
		}
	}()
	go func() {
		defer s.served.Done()
		if err := s.plainSrv.Serve(plainLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox HTTP listener stopped", "err", err)
		}
	}()
	// Stop with the caller's context too, so `make run` and tests need no extra wiring.
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-runCtx.Done():
		}
	}()
	return nil
}

func listenLoopback(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("sandbox: listen address %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	return ln, nil
}

// Close stops both listeners. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		s.stop() // cancels in-flight injected latency
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err1 := s.tlsSrv.Shutdown(ctx)
		err2 := s.plainSrv.Shutdown(ctx)
		if err := errors.Join(err1, err2); err != nil {
			_ = s.tlsSrv.Close()
			_ = s.plainSrv.Close()
			s.closeErr = fmt.Errorf("sandbox: shutdown: %w", err)
		}
		s.served.Wait()
		s.httpClient.CloseIdleConnections()
	})
	return s.closeErr
}

// AuthorityHost is the azidentity ActiveDirectoryAuthorityHost, e.g. "https://127.0.0.1:1234/".
func (s *Sandbox) AuthorityHost() string { return s.authorityHost }

// ConsentHost is the browser-facing plain-http base, e.g. "http://127.0.0.1:1235/".
func (s *Sandbox) ConsentHost() string { return s.consentHost }

// GraphBaseURL is the Graph v1.0 base, e.g. "http://127.0.0.1:1235/v1.0".
func (s *Sandbox) GraphBaseURL() string { return s.consentHost + "v1.0" }

// ControlURL is the control page for `make run`.
func (s *Sandbox) ControlURL() string { return s.consentHost + "sandbox/" }

// OperatorTenantID is the normalised provider tenant ID.
func (s *Sandbox) OperatorTenantID() string { return s.operatorTenant }

// AdminAPIClientID is the admin API app's client ID (aud of v2.0 operator tokens).
func (s *Sandbox) AdminAPIClientID() string { return s.adminClientID }

// CACertPEM is the PEM of the self-signed CA that issued the TLS certificate.
func (s *Sandbox) CACertPEM() []byte { return slices.Clone(s.caPEM) }

// HTTPClient trusts the sandbox CA; pass it as azcore ClientOptions.Transport.
func (s *Sandbox) HTTPClient() *http.Client { return s.httpClient }

// CertPool returns a fresh pool holding the sandbox CA.
func (s *Sandbox) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	return pool
}

// WriteCACert writes the CA certificate (PEM) to path.
func (s *Sandbox) WriteCACert(path string) error {
	return writeFileAtomic(path, s.caPEM, 0o644)
}

// JWKSURL is the signing-key set URL of a tenant.
func (s *Sandbox) JWKSURL(tenantID string) string {
	return s.authorityHost + tenantID + "/discovery/v2.0/keys"
}

// OpenIDConfigurationURL is the v2.0 metadata URL of a tenant.
func (s *Sandbox) OpenIDConfigurationURL(tenantID string) string {
	return s.authorityHost + tenantID + "/v2.0/.well-known/openid-configuration"
}

// Issuer is the v2.0 issuer of a tenant (operator tokens carry Issuer(OperatorTenantID())).
func (s *Sandbox) Issuer(tenantID string) string {
	return s.authorityHost + tenantID + "/v2.0"
}

// V1Issuer is the v1.0 issuer of a tenant. Entra puts the fixed STS host in
// v1 tokens whatever authority issued them, so it is not under AuthorityHost.
func (s *Sandbox) V1Issuer(tenantID string) string {
	return "https://sts.windows.net/" + tenantID + "/"
}

// AdminConsentURL builds the browser URL of the admin-consent page.
func (s *Sandbox) AdminConsentURL(tenantID, clientID, redirectURI, state string) string {
	return s.consentHost + tenantID + "/v2.0/adminconsent?" + encodeQuery(
		"client_id", clientID, "scope", graphDefaultScope, "redirect_uri", redirectURI, "state", state)
}

// RequiredRoles are the 8 Graph application permissions the service needs.
func RequiredRoles() []string {
	out := make([]string, 0, 8)
	for _, p := range permissions {
		if p.required && p.kind == "Application" {
			out = append(out, p.name)
		}
	}
	return out
}

// RequiredRoles is the method form of the package function.
func (s *Sandbox) RequiredRoles() []string { return RequiredRoles() }

// tenantFor returns the tenant state, creating it when create is set.
func (s *Sandbox) tenantFor(id string, create bool) *tenant {
	id = strings.ToLower(strings.TrimSpace(id))
	if v, ok := s.tenants.Load(id); ok {
		return v.(*tenant)
	}
	if !create {
		return nil
	}
	v, _ := s.tenants.LoadOrStore(id, &tenant{id: id})
	return v.(*tenant)
}

// resolveTenant returns the tenant addressed by an HTTP request, or nil if
// it does not exist: GUIDs exist implicitly; other names only if configured.
func (s *Sandbox) resolveTenant(raw string) *tenant {
	if !domain.IsGUID(raw) {
		return nil
	}
	t := s.tenantFor(raw, true)
	t.mu.Lock()
	deleted := t.deleted
	t.mu.Unlock()
	if deleted {
		return nil
	}
	return t
}

// SetTenant replaces a tenant's scenario. Deleted applies at once; GrantRoles
// and SPDisabled apply to later consents (use SetRoles/SetSPEnabled to change
// an existing service principal).
func (s *Sandbox) SetTenant(tenantID string, sc Scenario) {
	t := s.tenantFor(tenantID, true)
	t.mu.Lock()
	sc.GrantRoles = cloneNilable(sc.GrantRoles)
	t.scenario = sc
	t.deleted = sc.Deleted
	t.mu.Unlock()
	if sc.Faults == (Faults{}) {
		t.faults.Store(nil)
	} else {
		f := sc.Faults
		t.faults.Store(&f)
	}
}

// Consent grants admin consent as if Accept was clicked: the service
// principal is created (or updated) with roles and enabled state per the
// tenant's Scenario. Unknown apps and deleted tenants are logged and ignored.
func (s *Sandbox) Consent(tenantID, appID string) {
	if _, err := s.grantConsent(tenantID, appID); err != nil {
		s.log.Error("sandbox: consent not recorded", "tenant", tenantID, "app", appID, "err", err)
	}
}

func (s *Sandbox) grantConsent(tenantID, appID string) (*tenant, error) {
	app, ok := s.apps[strings.ToLower(appID)]
	if !ok {
		return nil, fmt.Errorf("app %s is not registered in the sandbox", appID)
	}
	t := s.tenantFor(tenantID, true)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return nil, fmt.Errorf("tenant %s is deleted", tenantID)
	}
	roles := t.scenario.GrantRoles
	if roles == nil {
		roles = RequiredRoles()
	}
	t.upsertSPLocked(app, roles, !t.scenario.SPDisabled, time.Now().UTC())
	t.spByAppLocked(app.AppID).disabledByMicrosoft = t.scenario.DisabledByMicrosoftStatus
	s.log.Info("sandbox: admin consent granted", "tenant", t.id, "app", app.AppID, "roles", len(roles), "enabled", !t.scenario.SPDisabled)
	return t, nil
}

func (t *tenant) upsertSP(app App, roles []string, enabled bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.upsertSPLocked(app, roles, enabled, at)
}

func (t *tenant) upsertSPLocked(app App, roles []string, enabled bool, at time.Time) {
	if t.graphResourceID == "" {
		t.graphResourceID = uuid.NewString()
	}
	if sp := t.spByAppLocked(app.AppID); sp != nil {
		sp.roles = slices.Clone(roles)
		sp.enabled = enabled
		sp.grantedAt = at
		return
	}
	t.sps = append(t.sps, &servicePrincipal{
		id: uuid.NewString(), appID: app.AppID, displayName: app.DisplayName,
		enabled: enabled, roles: slices.Clone(roles), grantedAt: at,
	})
}

// tokenRoles are the roles a token issued now carries for sp: none while
// the consent is still replicating (Scenario.RoleReplicationLag).
func (t *tenant) tokenRoles(sp servicePrincipal, now time.Time) []string {
	t.mu.Lock()
	lag := t.scenario.RoleReplicationLag
	t.mu.Unlock()
	if lag > 0 && now.Before(sp.grantedAt.Add(lag)) {
		return nil
	}
	return sp.roles
}

func (t *tenant) spByAppLocked(appID string) *servicePrincipal {
	for _, sp := range t.sps {
		if strings.EqualFold(sp.appID, appID) {
			return sp
		}
	}
	return nil
}

func (t *tenant) spByIDLocked(id string) *servicePrincipal {
	for _, sp := range t.sps {
		if strings.EqualFold(sp.id, id) {
			return sp
		}
	}
	return nil
}

// spSnapshot copies a service principal so it can be used without the lock.
func (t *tenant) spSnapshot(byAppID, byID string) (servicePrincipal, string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sp *servicePrincipal
	if byAppID != "" {
		sp = t.spByAppLocked(byAppID)
	} else {
		sp = t.spByIDLocked(byID)
	}
	if sp == nil {
		return servicePrincipal{}, "", false
	}
	cp := *sp
	cp.roles = slices.Clone(sp.roles)
	return cp, t.graphResourceID, true
}

// RemoveServicePrincipal deletes the app's enterprise application in the tenant.
func (s *Sandbox) RemoveServicePrincipal(tenantID, appID string) {
	t := s.tenantFor(tenantID, false)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sps = slices.DeleteFunc(t.sps, func(sp *servicePrincipal) bool { return strings.EqualFold(sp.appID, appID) })
}

// SetRoles replaces the granted app roles of an existing service principal.
func (s *Sandbox) SetRoles(tenantID, appID string, roles []string) {
	s.withSP(tenantID, appID, func(sp *servicePrincipal) { sp.roles = slices.Clone(roles) })
}

// SetDisabledByMicrosoft sets an existing service principal's
// disabledByMicrosoftStatus ("" = null, "NotDisabled",
// "DisabledDueToViolationOfServicesAgreement").
func (s *Sandbox) SetDisabledByMicrosoft(tenantID, appID, status string) {
	s.withSP(tenantID, appID, func(sp *servicePrincipal) { sp.disabledByMicrosoft = status })
}

// scenarioSnapshot copies the tenant's scenario for use without the lock.
func (t *tenant) scenarioSnapshot() Scenario {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scenario
}

// SetSPEnabled enables or disables an existing service principal.
func (s *Sandbox) SetSPEnabled(tenantID, appID string, enabled bool) {
	s.withSP(tenantID, appID, func(sp *servicePrincipal) { sp.enabled = enabled })
}

func (s *Sandbox) withSP(tenantID, appID string, f func(*servicePrincipal)) {
	if t := s.tenantFor(tenantID, false); t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if sp := t.spByAppLocked(appID); sp != nil {
			f(sp)
			return
		}
	}
	s.log.Warn("sandbox: no service principal to change", "tenant", tenantID, "app", appID)
}

// DeleteTenant makes the tenant unknown (AADSTS90002).
func (s *Sandbox) DeleteTenant(tenantID string) {
	t := s.tenantFor(tenantID, true)
	t.mu.Lock()
	t.deleted = true
	t.scenario.Deleted = true
	t.mu.Unlock()
}

// SetFaults replaces the global faults.
func (s *Sandbox) SetFaults(f Faults) { s.faults.Store(&f) }

func (s *Sandbox) faultsFor(t *tenant) Faults {
	if t != nil {
		if f := t.faults.Load(); f != nil {
			return *f
		}
	}
	return *s.faults.Load()
}

// Stats returns a snapshot of the counters.
func (s *Sandbox) Stats() Stats {
	st := Stats{
		TokenRequests:            s.tokenRequests.Load(),
		TokensIssued:             s.tokensIssued.Load(),
		TokenRequestsByTenant:    map[string]int64{},
		GraphRequests:            s.graphRequests.Load(),
		GraphRequestsByTenant:    map[string]int64{},
		LowPriorityGraphRequests: s.lowPriority.Load(),
		Served429:                s.served429.Load(),
		Served503:                s.served503.Load(),
		MaxConcurrentGraph:       s.maxInFlight.Load(),
		MailSent:                 s.mailSent.Load(),
	}
	s.tenants.Range(func(_, v any) bool {
		t := v.(*tenant)
		if n := t.tokenRequests.Load(); n > 0 {
			st.TokenRequestsByTenant[t.id] = n
		}
		if n := t.graphRequests.Load(); n > 0 {
			st.GraphRequestsByTenant[t.id] = n
		}
		return true
	})
	return st
}

func cloneNilable(in []string) []string {
	if in == nil {
		return nil
	}
	return append([]string{}, in...)
}
