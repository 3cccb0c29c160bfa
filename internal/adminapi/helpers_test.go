package adminapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/operations"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/status"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/tenants"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	operatorTenant = "5e1f0c2a-7b3d-4e8f-9a10-112233445566"
	clientAppID    = "7d7d7d7d-1111-4222-8333-444455556666"
	euAppID        = "a1a1a1a1-2b2b-4c3c-8d4d-5e5e5e5e5e5e"
	usAppID        = "b2b2b2b2-3c3c-4d4d-8e5e-6f6f6f6f6f6f"
	adminIP        = "203.0.113.7"
)

var testRegions = domain.Regions{
	"eu": {Code: "eu", DisplayName: "Europe", AppID: euAppID, TenantKeyDomain: "eu.cvi.onemeeting.example", InstructionBaseURL: "https://join.onemeeting.example/eu"},
	"us": {Code: "us", DisplayName: "United States", AppID: usAppID, TenantKeyDomain: "us.cvi.onemeeting.example", InstructionBaseURL: "https://join.onemeeting.example/us"},
}

// signingKey is the test identity platform's RSA key, made once per binary.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// sampleAdminAPI is the admin API app as local.settings.sample.json names it
// (ADMIN_API_CLIENT_ID, ADMIN_API_AUDIENCE): the tests validate with the
// sample's settings, so a real-shaped token must pass with them.
var sampleAdminAPI = sync.OnceValue(func() struct{ clientID, appIDURI string } {
	b, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		panic(err)
	}
	var local struct{ Values map[string]string }
	if err := json.Unmarshal(b, &local); err != nil {
		panic(err)
	}
	return struct{ clientID, appIDURI string }{local.Values["ADMIN_API_CLIENT_ID"], local.Values["ADMIN_API_AUDIENCE"]}
})

// identity plays Microsoft Entra ID for the admin API: a JWKS on loopback
// and RS256 access tokens in Entra's v2.0 shape (aud = the API's client ID,
// iss = the operator tenant's /v2.0 issuer, azp).
type identity struct {
	key    *rsa.PrivateKey
	kid    string
	issuer string
	jwks   *httptest.Server
}

func newIdentity(t *testing.T) *identity {
	t.Helper()
	id := &identity{key: signingKey(), kid: "test-key-1", issuer: "https://login.microsoftonline.com/" + operatorTenant + "/v2.0"}
	pub := id.key.PublicKey
	body, err := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": id.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	id.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(id.jwks.Close)
	return id
}

func (id *identity) validator(t *testing.T, logger *slog.Logger) *auth.Validator {
	t.Helper()
	v, err := auth.NewValidator(auth.Config{
		Issuer: id.issuer, ClientID: sampleAdminAPI().clientID, AppIDURI: sampleAdminAPI().appIDURI,
		JWKSURL: id.jwks.URL + "/discovery/v2.0/keys", HTTPClient: id.jwks.Client(), Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// operator describes a caller.
type operator struct {
	oid, name string
	roles     []string
}

// claims returns a valid access token's claims for op; tests mutate them.
func (id *identity) claims(op operator) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"aud": sampleAdminAPI().clientID, "iss": id.issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": op.oid, "sub": "pairwise-" + op.oid, "tid": operatorTenant, "azp": clientAppID, "name": op.name, "ver": "2.0",
	}
	if op.roles != nil {
		c["roles"] = op.roles
	}
	return c
}

func (id *identity) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = id.kid
	s, err := tok.SignedString(id.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (id *identity) token(t *testing.T, op operator) string {
	t.Helper()
	return id.sign(t, id.claims(op))
}

// publisher records what the services enqueue.
type publisher struct {
	mu   sync.Mutex
	msgs map[string][]queue.Message
}

func (p *publisher) Publish(_ context.Context, q string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]queue.Message{}
	}
	p.msgs[q] = append(p.msgs[q], msgs...)
	return nil
}

func (p *publisher) Close(context.Context) error { return nil }

// emailJobs returns the queued email jobs of a kind for a tenant.
func (p *publisher) emailJobs(t *testing.T, kind domain.EmailKind, tenantID string) []domain.EmailJob {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []domain.EmailJob
	for _, m := range p.msgs[queue.Email] {
		job, err := domain.DecodeEmailJob(m.Body)
		if err != nil {
			t.Fatalf("queued email job does not decode: %v", err)
		}
		if job.Kind == kind && job.TenantID == tenantID {
			if m.ID != job.IdempotencyKey {
				t.Errorf("message ID %q differs from idempotency key %q", m.ID, job.IdempotencyKey)
			}
			out = append(out, *job)
		}
	}
	return out
}

// checker is a domain.ConsentChecker answering from a table.
type checker struct {
	mu      sync.Mutex
	answers map[string]domain.ConsentCheck
}

func (c *checker) set(tenantID string, check domain.ConsentCheck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answers == nil {
		c.answers = map[string]domain.ConsentCheck{}
	}
	c.answers[tenantID] = check
}

func (c *checker) CheckConsent(_ context.Context, tenantID, _ string, _ domain.CheckOptions) (domain.ConsentCheck, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.answers[tenantID]; ok {
		return a, nil
	}
	return domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not in tenant"}, nil
}

// env is one API over fresh tables.
type env struct {
	t       *testing.T
	api     *API
	srv     *httptest.Server
	store   *tablestore.Store
	id      *identity
	pub     *publisher
	checker *checker
	consent *consent.Service
	logs    *testkit.SyncBuffer

	writer, reader operator
	writerToken    string
	readerToken    string
}

// envDeps is what an option may change: the API's dependencies, and the
// store the services behind it use (an option may wrap it).
type envDeps struct {
	Deps
	Store domain.TenantStore
}

type envOption func(*envDeps)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// One quick retry: the tests exercise failures, not the SDK's patience.
	retry := policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, TryTimeout: 10 * time.Second}
	store := teststore.New(t, tablestore.Options{Retry: &retry})
	e := &env{t: t, store: store, id: newIdentity(t), pub: &publisher{}, checker: &checker{}, logs: logs,
		writer: operator{oid: testkit.GUID(t), name: "Olivia Operator", roles: []string{auth.RoleReadWrite}},
		reader: operator{oid: testkit.GUID(t), name: "Rita Reader", roles: []string{auth.RoleRead}},
	}
	base, _ := url.Parse("https://onboarding.onemeeting.example/")
	e.consent = &consent.Service{Store: store, Checker: e.checker, Outbox: queue.Outbox{Publisher: e.pub}, Regions: testRegions, PublicBaseURL: base,
		ConsentAuthorityURL: "https://login.microsoftonline.com/", LinkTTL: 7 * 24 * time.Hour, VerifyTimeout: time.Second,
		Rechecks: domain.RecheckSchedule{First: time.Minute, Attempts: 3}, Now: time.Now, Logger: logger}
	rejected := &rejections.Recorder{Store: store, Outbox: queue.Outbox{Publisher: e.pub}, OpsEmails: []string{"ops@onemeeting.example"}, Logger: logger}
	deps := envDeps{Store: store, Deps: Deps{
		Auth: e.id.validator(t, logger),
		Provisioning: &provisioning.Service{Store: store, Outbox: queue.Outbox{Publisher: e.pub}, Regions: testRegions, ReminderDelay: 72 * time.Hour,
			Rejections: rejected, Now: time.Now, Logger: logger},
		Revalidation: &revalidation.Service{Store: store, Checker: e.checker, Outbox: queue.Outbox{Publisher: e.pub}, OpsEmails: []string{"ops@onemeeting.example"}, Rejections: rejected,
			BatchSize: 100, Concurrency: 2, AlertAfter: 3, CheckTimeout: 5 * time.Second, Now: time.Now, Logger: logger},
		Regions: testRegions,
		Now:     time.Now,
		Logger:  logger,
		// The tenant view's notLiveAfterConsent (statuslink_test.go).
		LiveReminderAfter: 168 * time.Hour,
		// ReminderDelay and AlertAfter as Provisioning's and Revalidation's.
		Operations: &operations.Service{Regions: testRegions, ReminderDelay: 72 * time.Hour, AlertAfter: 3,
			Now: time.Now, Logger: logger},
	}}
	for _, o := range opts {
		o(&deps)
	}
	deps.Operations.Store = deps.Store // as an option left it (it may wrap it)
	if deps.Tenants == nil {
		// On whatever store the options left (a throttled one, say).
		deps.Tenants = &tenants.Service{Store: deps.Store, Outbox: queue.Outbox{Publisher: e.pub}, Consent: e.consent,
			Status:       &status.Service{Store: store, Outbox: queue.Outbox{Publisher: e.pub}, PublicBaseURL: base, Now: time.Now, Logger: logger},
			Revalidation: deps.Revalidation, Audit: domain.AuditLog{Store: deps.Store, Logger: logger, Now: time.Now}, Now: time.Now, Logger: logger}
	}
	api, err := New(deps.Deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.api = api
	// Mounted as handlers/ will mount it.
	mux := http.NewServeMux()
	mux.Handle(Prefix, api)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.writerToken = e.id.token(t, e.writer)
	e.readerToken = e.id.token(t, e.reader)
	return e
}

// request describes one call.
type request struct {
	method, path string
	token        string // "" sends no Authorization header
	body         []byte
	contentType  string // default application/json when there is a body
	noType       bool   // send no Content-Type at all
	chunked      bool   // send the body without Content-Length
	header       http.Header
	noSpecCheck  bool // the response is deliberately outside the document
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// jsonBody marshals v as a request body.
func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends the request and checks the response against the OpenAPI
// document (status, headers, body schema) unless told not to.
func (e *env) do(rq request) response {
	e.t.Helper()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
		if rq.chunked {
			body = io.MultiReader(body) // hides the length from net/http
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), rq.method, e.srv.URL+rq.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	switch {
	case rq.noType:
	case rq.contentType != "":
		req.Header.Set("Content-Type", rq.contentType)
	case rq.body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rq.noSpecCheck {
		checkAgainstSpec(e.t, req, resp, got)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// specMu serialises use of the shared validator, whose caches are not
// documented as safe for concurrent use.
var specMu sync.Mutex

func checkAgainstSpec(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	v, err := specValidator()
	if err != nil {
		t.Fatal(err)
	}
	// The validator sees the path as routed under the document's paths.
	r := req.Clone(context.Background())
	r.URL = &url.URL{Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	rs := *resp
	rs.Body = io.NopCloser(bytes.NewReader(body))
	specMu.Lock()
	ok, errs := v.ValidateHttpResponse(r, &rs)
	specMu.Unlock()
	if !ok {
		t.Errorf("%s %s → %d does not match openapi.yaml:\n%s\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, describeValidation(errs), domain.Truncate(string(body), 600))
	}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// problemOf decodes a problem response and checks its envelope.
func (r response) problem(t *testing.T, status int) problem {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	r.decode(t, &p)
	if p.Status != status || p.Title == "" || !strings.HasPrefix(p.Type, problemTypeBase) {
		t.Fatalf("malformed problem %+v", p)
	}
	return p
}

// fields lists the fields a problem names.
func (p problem) fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// provisioningBody is a valid provisioning v1 request.
func provisioningBody(requestID, tenantID, region, name, domainName string) map[string]any {
	return map[string]any{
		"schemaVersion": 1, "requestId": requestID, "tenantId": tenantID, "customerName": name, "primaryDomain": domainName,
		"region": region, "adminIps": []string{adminIP, "198.51.100.16/28"},
		"contacts": []map[string]any{
			{"name": "IT Admin", "email": "it-admin@" + domainName, "role": "admin"},
			{"email": "desk@" + domainName, "role": "technical"},
		},
	}
}

// provision creates a tenant through the API and returns it.
func (e *env) provision(name, domainName, region string) tenantView {
	e.t.Helper()
	id := testkit.GUID(e.t)
	r := e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken,
		body: jsonBody(e.t, provisioningBody("CRM-"+id[:8], id, region, name, domainName))}).want(e.t, http.StatusCreated)
	var res provisionView
	r.decode(e.t, &res)
	return res.Tenant
}

func (e *env) getTenant(id string) (tenantView, string) {
	e.t.Helper()
	r := e.do(request{method: "GET", path: "/api/admin/tenants/" + id, token: e.readerToken}).want(e.t, http.StatusOK)
	var v tenantView
	r.decode(e.t, &v)
	return v, r.header.Get("ETag")
}

// events returns the tenant's whole audit trail from the store.
func (e *env) events(tenantID string) []domain.AuditEvent {
	e.t.Helper()
	return teststore.Audit(e.t, e.store, tenantID)
}
