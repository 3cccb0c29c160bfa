package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestCheckConsentedCountsRequests(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	var logs testkit.SyncBuffer
	creds := newCreds(t, s)
	c := newChecker(t, s, creds, debugLogger(&logs))
	tenantID := consented(t, s)
	ctx := ctxTimeout(t, 30*time.Second)

	res, err := c.Check(ctx, tenantID, testAppID, CheckOptions{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Outcome != OutcomeConsented || !res.SPEnabled || len(res.MissingRoles) != 0 || res.Detail != "" || res.AADSTS != 0 {
		t.Errorf("result = %+v, want consented", res)
	}
	if len(res.SPObjectID) != 36 {
		t.Errorf("SPObjectID = %q, want the service principal's GUID", res.SPObjectID)
	}
	for _, r := range entrasim.RequiredRoles() {
		if !slices.Contains(res.Roles, r) {
			t.Errorf("Roles %v lack %s", res.Roles, r)
		}
	}
	if tok, gr := requests(s, tenantID); tok != 1 || gr != 1 {
		t.Errorf("fresh check: %d token + %d graph requests, want exactly 1 + 1", tok, gr)
	}

	// Within the token lifetime the credential's cache answers.
	if res, err := c.Check(ctx, tenantID, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
		t.Fatalf("second Check: %+v, %v", res, err)
	}
	if tok, gr := requests(s, tenantID); tok != 1 || gr != 2 {
		t.Errorf("second check: totals %d token + %d graph, want 1 + 2 (no new token)", tok, gr)
	}

	// Fresh drops the credential: a new token shows changed roles at once.
	s.SetRoles(tenantID, testAppID, entrasim.RequiredRoles()[1:])
	res, err = c.Check(ctx, tenantID, testAppID, CheckOptions{Fresh: true})
	if err != nil {
		t.Fatalf("fresh Check: %v", err)
	}
	if tok, gr := requests(s, tenantID); tok != 2 || gr != 3 {
		t.Errorf("Fresh check: totals %d token + %d graph, want 2 + 3", tok, gr)
	}
	if res.Outcome != OutcomeDegraded || !slices.Equal(res.MissingRoles, entrasim.RequiredRoles()[:1]) {
		t.Errorf("after SetRoles + Fresh: %+v, want degraded missing %s", res, entrasim.RequiredRoles()[0])
	}

	out := logs.String()
	if !strings.Contains(out, `"msg":"consent check"`) || !strings.Contains(out, `"outcome":"consented"`) || !strings.Contains(out, tenantID) {
		t.Errorf("debug log lacks the check record: %s", out)
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("log contains something token-shaped: %s", out)
	}
}

func TestCheckDegradedMissingRoles(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	required := entrasim.RequiredRoles()
	granted := []string{required[7], required[0], required[5], required[2], required[4], required[3]} // 6 of 8
	want := []string{required[1], required[6]}
	slices.Sort(want)
	tenantID := consented(t, s, entrasim.Scenario{GrantRoles: granted})

	res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Outcome != OutcomeDegraded || !res.SPEnabled || !slices.Equal(res.MissingRoles, want) || len(res.Roles) != 6 {
		t.Fatalf("result = %+v, want degraded missing %v", res, want)
	}
	for _, m := range want {
		if !strings.Contains(res.Detail, m) {
			t.Errorf("Detail %q does not name %s", res.Detail, m)
		}
	}

	// A token without any roles claim (permissions removed, SP kept).
	none := consented(t, s, entrasim.Scenario{GrantRoles: []string{}})
	res, err = c.Check(ctxTimeout(t, 30*time.Second), none, testAppID, CheckOptions{})
	if err != nil {
		t.Fatalf("Check no roles: %v", err)
	}
	if res.Outcome != OutcomeDegraded || len(res.Roles) != 0 || len(res.MissingRoles) != len(required) {
		t.Errorf("no roles: %+v", res)
	}
}

func TestCheckServicePrincipalDisabled(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	ctx := ctxTimeout(t, 30*time.Second)

	// Disabled before any token: the token endpoint says AADSTS7000112.
	disabled := consented(t, s, entrasim.Scenario{SPDisabled: true})
	res, err := c.Check(ctx, disabled, testAppID, CheckOptions{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Outcome != OutcomeDegraded || res.SPEnabled || res.AADSTS != 7000112 || !strings.Contains(res.Detail, "disabled") {
		t.Errorf("disabled SP: %+v", res)
	}

	// Disabled while we hold a valid token: Graph's accountEnabled says so.
	later := consented(t, s)
	if res, err := c.Check(ctx, later, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
		t.Fatalf("before disabling: %+v, %v", res, err)
	}
	s.SetSPEnabled(later, testAppID, false)
	res, err = c.Check(ctx, later, testAppID, CheckOptions{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Outcome != OutcomeDegraded || res.SPEnabled || res.AADSTS != 0 || len(res.MissingRoles) != 0 || !strings.Contains(res.Detail, "disabled") {
		t.Errorf("SP disabled after token: %+v", res)
	}
}

func TestCheckRevokedAndTenantGone(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	ctx := ctxTimeout(t, 30*time.Second)

	never := testkit.GUID(t)
	res, err := c.Check(ctx, never, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeRevoked || res.AADSTS != 700016 {
		t.Errorf("never consented: %+v, %v; want revoked AADSTS700016", res, err)
	}

	// Enterprise app removed while our token is still valid: Graph 404.
	removed := consented(t, s)
	if res, err := c.Check(ctx, removed, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
		t.Fatalf("before removal: %+v, %v", res, err)
	}
	s.RemoveServicePrincipal(removed, testAppID)
	res, err = c.Check(ctx, removed, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeRevoked || !strings.Contains(res.Detail, "Request_ResourceNotFound") || len(res.Roles) == 0 {
		t.Errorf("SP removed, cached token: %+v, %v; want revoked by Graph 404", res, err)
	}
	// With a fresh token the token endpoint already refuses.
	res, err = c.Check(ctx, removed, testAppID, CheckOptions{Fresh: true})
	if err != nil || res.Outcome != OutcomeRevoked || res.AADSTS != 700016 {
		t.Errorf("SP removed, fresh: %+v, %v; want revoked AADSTS700016", res, err)
	}

	gone := consented(t, s)
	s.DeleteTenant(gone)
	res, err = c.Check(ctx, gone, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeTenantGone || res.AADSTS != 90002 {
		t.Errorf("deleted tenant: %+v, %v; want tenant-gone AADSTS90002", res, err)
	}

	// Deleted while we hold a token: Graph answers 401. That is transient
	// and drops the credential, so the next check asks the token endpoint.
	goneLater := consented(t, s)
	if res, err := c.Check(ctx, goneLater, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
		t.Fatalf("before deletion: %+v, %v", res, err)
	}
	s.DeleteTenant(goneLater)
	res, err = c.Check(ctx, goneLater, testAppID, CheckOptions{})
	if !domain.IsTransient(err) || res.Outcome != "" || !strings.Contains(err.Error(), "InvalidAuthenticationToken") {
		t.Errorf("Graph 401: %+v, %v; want transient", res, err)
	}
	res, err = c.Check(ctx, goneLater, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeTenantGone {
		t.Errorf("after Graph 401: %+v, %v; want tenant-gone from a new token request", res, err)
	}
}

// Gateways answer with HTML, and connections fail: both must stay transient.
func TestCheckGraphGatewayAndNetworkErrors(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	creds := newCreds(t, s)
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	defer gateway.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name, base string
		retryAfter time.Duration
	}{
		{"HTML 502", gateway.URL + "/v1.0", 2 * time.Second},
		{"connection refused", closedURL + "/v1.0", 0},
	} {
		c, err := NewChecker(creds, tc.base, entrasim.RequiredRoles(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Check(ctxTimeout(t, 30*time.Second), consented(t, s), testAppID, CheckOptions{})
		if !domain.IsTransient(err) || res.Outcome != "" || RetryAfter(err) != tc.retryAfter {
			t.Errorf("%s: %+v, %v (RetryAfter %v); want transient", tc.name, res, err, RetryAfter(err))
		}
	}
}

func TestApplyServicePrincipal(t *testing.T) {
	t.Parallel()
	sp := func(enabled *bool, byMicrosoft string) models.ServicePrincipalable {
		m := models.NewServicePrincipal()
		id := "sp-object-id"
		m.SetId(&id)
		m.SetAccountEnabled(enabled)
		if byMicrosoft != "" {
			m.SetDisabledByMicrosoftStatus(&byMicrosoft)
		}
		return m
	}
	yes, no := true, false
	for _, tc := range []struct {
		name    string
		sp      models.ServicePrincipalable
		missing []string
		want    Outcome
		enabled bool
		detail  string
	}{
		{"enabled, all roles", sp(&yes, ""), nil, OutcomeConsented, true, ""},
		{"enabled, roles missing", sp(&yes, ""), []string{"A", "B"}, OutcomeDegraded, true, "missing roles: A, B"},
		{"disabled", sp(&no, ""), nil, OutcomeDegraded, false, "service principal disabled"},
		{"accountEnabled absent", sp(nil, ""), nil, OutcomeDegraded, false, "service principal disabled"},
		{"disabled by Microsoft", sp(&yes, "DisabledDueToViolationOfServicesAgreement"), []string{"A"}, OutcomeDegraded, false,
			"missing roles: A; service principal disabled by Microsoft (DisabledDueToViolationOfServicesAgreement)"},
	} {
		res := CheckResult{MissingRoles: tc.missing}
		applyServicePrincipal(&res, tc.sp)
		if res.Outcome != tc.want || res.SPEnabled != tc.enabled || res.Detail != tc.detail || res.SPObjectID != "sp-object-id" {
			t.Errorf("%s: %+v", tc.name, res)
		}
	}
}

func TestCheckWrongSecretIsOurProblem(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s, func(o *CredentialOptions) { o.ClientSecret = "wrong" }), nil)
	tenantID := consented(t, s)

	res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
	if err == nil {
		t.Fatalf("wrong secret gave %+v, want an error", res)
	}
	if res.Outcome != "" {
		t.Errorf("an error must not come with an outcome: %+v", res)
	}
	if domain.ErrorCode(err) != domain.CodeInternal || domain.IsTransient(err) {
		t.Errorf("code = %s, want permanent %s", domain.ErrorCode(err), domain.CodeInternal)
	}
	if msg := err.Error(); !strings.Contains(msg, "OUR app credential") || !strings.Contains(msg, "7000215") {
		t.Errorf("message should blame our credential and name AADSTS7000215: %s", msg)
	}
	if _, gr := requests(s, tenantID); gr != 0 {
		t.Errorf("Graph called %d times without a token", gr)
	}
}

func TestCheckTransientFaults(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)

	assertTransient := func(t *testing.T, res CheckResult, err error, wantRetryAfter time.Duration) {
		t.Helper()
		if err == nil || !domain.IsTransient(err) {
			t.Fatalf("got %+v, %v; want a transient error", res, err)
		}
		if res.Outcome != "" {
			t.Errorf("transient error came with outcome %q", res.Outcome)
		}
		if got := RetryAfter(err); got != wantRetryAfter {
			t.Errorf("RetryAfter = %v, want %v (err: %v)", got, wantRetryAfter, err)
		}
	}

	t.Run("503 everywhere", func(t *testing.T) {
		t.Parallel()
		tenantID := consented(t, s, entrasim.Scenario{Faults: entrasim.Faults{Status503: true}})
		res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
		assertTransient(t, res, err, 0)
	})
	t.Run("Graph 503 with Retry-After", func(t *testing.T) {
		t.Parallel()
		tenantID := consented(t, s, entrasim.Scenario{Faults: entrasim.Faults{Status503: true, RetryAfterSeconds: 4, ApplyToGraph: true}})
		res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
		assertTransient(t, res, err, 4*time.Second)
		if tok, gr := requests(s, tenantID); tok != 1 || gr != 1 {
			t.Errorf("%d token + %d graph requests, want 1 + 1", tok, gr)
		}
	})
	t.Run("token 429 AADSTS90055", func(t *testing.T) {
		t.Parallel()
		tenantID := consented(t, s, entrasim.Scenario{Faults: entrasim.Faults{Rate429: 1, RetryAfterSeconds: 1}})
		res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
		assertTransient(t, res, err, time.Second)
		if !strings.Contains(err.Error(), "90055") {
			t.Errorf("error should name AADSTS90055: %v", err)
		}
	})
	t.Run("slow token endpoint past deadline", func(t *testing.T) {
		t.Parallel()
		tenantID := consented(t, s, entrasim.Scenario{Faults: entrasim.Faults{Latency: 5 * time.Second}})
		start := time.Now()
		res, err := c.Check(ctxTimeout(t, 300*time.Millisecond), tenantID, testAppID, CheckOptions{})
		assertTransient(t, res, err, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error should wrap context.DeadlineExceeded: %v", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("check took %v despite a 300ms deadline", el)
		}
	})
	t.Run("slow Graph past deadline", func(t *testing.T) {
		t.Parallel()
		tenantID := consented(t, s, entrasim.Scenario{Faults: entrasim.Faults{Latency: 5 * time.Second, ApplyToGraph: true}})
		res, err := c.Check(ctxTimeout(t, 500*time.Millisecond), tenantID, testAppID, CheckOptions{})
		assertTransient(t, res, err, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error should wrap context.DeadlineExceeded: %v", err)
		}
		if tok, _ := requests(s, tenantID); tok != 1 {
			t.Errorf("token requests = %d, want 1 (token fine, Graph slow)", tok)
		}
	})
}

// The kiota retry handler honours Retry-After and is bounded by MaxRetries.
func TestCheckGraph429RetriedThenTransient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s, func(o *CredentialOptions) { o.MaxRetries = 1 }), nil)
	tenantID := consented(t, s)
	s.SetFaults(entrasim.Faults{Rate429: 1, RetryAfterSeconds: 1, ApplyToGraph: true})

	start := time.Now()
	res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
	if err == nil || !domain.IsTransient(err) || RetryAfter(err) != time.Second {
		t.Fatalf("got %+v, %v (RetryAfter %v); want transient with RetryAfter 1s", res, err, RetryAfter(err))
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retry did not wait for Retry-After: %v", el)
	}
	if st := s.Stats(); st.GraphRequests != 2 || st.Served429 != 2 || st.TokenRequests != 1 {
		t.Errorf("stats %+v: want 2 Graph requests (1 retry), 2×429, 1 token", st)
	}

	// A Retry-After the deadline cannot cover goes straight back to the caller.
	s.SetFaults(entrasim.Faults{Rate429: 1, RetryAfterSeconds: 20, ApplyToGraph: true})
	start = time.Now()
	_, err = c.Check(ctxTimeout(t, 2*time.Second), tenantID, testAppID, CheckOptions{})
	if RetryAfter(err) != 20*time.Second || time.Since(start) > time.Second {
		t.Errorf("long Retry-After: err %v after %v; want RetryAfter 20s without waiting", err, time.Since(start))
	}
}

func TestCheckLowPriorityHeader(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	tenantID := consented(t, s)
	ctx := ctxTimeout(t, 30*time.Second)

	if _, err := c.Check(ctx, tenantID, testAppID, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().LowPriorityGraphRequests; n != 0 {
		t.Fatalf("normal check sent the low-priority header (%d)", n)
	}
	if _, err := c.Check(ctx, tenantID, testAppID, CheckOptions{LowPriority: true}); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().LowPriorityGraphRequests; n != 1 {
		t.Errorf("LowPriorityGraphRequests = %d, want 1", n)
	}
}

func TestCredentialLRUBound(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	creds := newCreds(t, s, func(o *CredentialOptions) { o.CacheSize = 16 })
	c := newChecker(t, s, creds, nil)
	ctx := ctxTimeout(t, 60*time.Second)

	tenants := make([]string, 40)
	for i := range tenants {
		tenants[i] = consented(t, s)
		if res, err := c.Check(ctx, tenants[i], testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
			t.Fatalf("tenant %d: %+v, %v", i, res, err)
		}
	}
	if creds.Len() != 16 || creds.Created() != 40 {
		t.Errorf("cached %d, created %d; want 16 cached of 40", creds.Len(), creds.Created())
	}
	// The most recent tenant is cached (no token request); the first was evicted.
	if _, err := c.Check(ctx, tenants[39], testAppID, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := requests(s, tenants[39]); tok != 1 {
		t.Errorf("recent tenant: %d token requests, want 1", tok)
	}
	if _, err := c.Check(ctx, tenants[0], testAppID, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := requests(s, tenants[0]); tok != 2 {
		t.Errorf("evicted tenant: %d token requests, want 2", tok)
	}
	if creds.Len() != 16 {
		t.Errorf("cached %d after re-adding, want 16", creds.Len())
	}
}

func TestCheckConcurrentTenants(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	creds := newCreds(t, s)
	c := newChecker(t, s, creds, nil)
	ctx := ctxTimeout(t, 60*time.Second)

	tenants := make([]string, 12)
	for i := range tenants {
		tenants[i] = consented(t, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tenants)*4)
	for _, tenantID := range tenants {
		for range 4 { // the same tenant from several goroutines too
			wg.Go(func() {
				res, err := c.Check(ctx, tenantID, testAppID, CheckOptions{})
				if err == nil && res.Outcome != OutcomeConsented {
					err = fmt.Errorf("tenant %s: outcome %s", tenantID, res.Outcome)
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, tenantID := range tenants {
		if tok, gr := requests(s, tenantID); tok != 1 || gr != 4 {
			t.Errorf("tenant %s: %d token + %d graph requests, want 1 + 4", tenantID, tok, gr)
		}
	}
	if creds.Len() != len(tenants) {
		t.Errorf("cached %d credentials, want %d", creds.Len(), len(tenants))
	}
}

func TestNewCheckerValidates(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	creds := newCreds(t, s)
	for _, tc := range []struct {
		name, base string
		roles      []string
	}{
		{"relative URL", "/v1.0", entrasim.RequiredRoles()},
		{"plain http off loopback", "http://graph.example.com/v1.0", entrasim.RequiredRoles()},
		{"no roles", s.GraphBaseURL(), nil},
		{"empty role", s.GraphBaseURL(), []string{""}},
	} {
		if _, err := NewChecker(creds, tc.base, tc.roles, nil); err == nil {
			t.Errorf("%s: NewChecker accepted it", tc.name)
		}
	}
	if _, err := NewChecker(creds, "https://graph.microsoft.com/v1.0", entrasim.RequiredRoles(), nil); err != nil {
		t.Errorf("public Graph URL rejected: %v", err)
	}
}
