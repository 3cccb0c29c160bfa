package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Outcome is the consent state of a tenant as seen by one check.
type Outcome string

const (
	OutcomeConsented  Outcome = "consented"   // token roles ⊇ required and service principal enabled
	OutcomeDegraded   Outcome = "degraded"    // service principal present but roles missing or disabled
	OutcomeRevoked    Outcome = "revoked"     // app not in the tenant (never consented or removed)
	OutcomeTenantGone Outcome = "tenant-gone" // tenant not found (callers confirm twice)
)

// callTimeout bounds a call whose context has no deadline.
const callTimeout = 60 * time.Second

// CheckResult is a definitive answer about a tenant. Transient failures and
// our own credential problems are errors instead, never a result.
type CheckResult struct {
	Outcome      Outcome
	Roles        []string // roles claim of the app-only token
	MissingRoles []string // required roles not granted, sorted
	SPEnabled    bool
	SPObjectID   string
	// RolesUnknown: the token was not a readable JWT, so Roles and
	// MissingRoles are empty and the outcome rests on the service principal.
	RolesUnknown bool
	AADSTS       int    // token endpoint code behind the outcome, 0 if none
	Detail       string // human-readable reason for a non-consented outcome
}

// CheckOptions tune one check.
type CheckOptions struct {
	LowPriority bool // send x-ms-throttle-priority: low (batch re-validation)
	Fresh       bool // drop the cached credential first, so roles come from a new token
}

// Checker confirms admin consent of our app in customer tenants.
type Checker struct {
	creds    *Credentials
	graph    *graphClient
	required []string // sorted, unique
	log      *slog.Logger
}

// NewChecker checks against graphBaseURL (e.g. "https://graph.microsoft.com/v1.0").
func NewChecker(creds *Credentials, graphBaseURL string, requiredRoles []string, logger *slog.Logger) (*Checker, error) {
	if creds == nil {
		return nil, errors.New("graph checker: nil credentials")
	}
	g, err := newGraphClient(creds, graphBaseURL)
	if err != nil {
		return nil, fmt.Errorf("graph checker: %w", err)
	}
	required := slices.Compact(slices.Sorted(slices.Values(requiredRoles)))
	if len(required) == 0 || required[0] == "" {
		return nil, errors.New("graph checker: required roles must be non-empty names")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{creds: creds, graph: g, required: required, log: logger.With("component", "graph")}, nil
}

// Check confirms appID's consent in tenantID with one token request (none
// while the credential holds a valid token) and one Graph request: the
// token's roles claim gives the granted permissions, the app's own service
// principal gives its enabled state.
func (c *Checker) Check(ctx context.Context, tenantID, appID string, o CheckOptions) (CheckResult, error) {
	start := time.Now()
	ctx, cancel := withCallDeadline(ctx)
	defer cancel()
	if o.Fresh {
		c.creds.Forget(tenantID, appID)
	}
	res, err := c.check(ctx, tenantID, appID, o)
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "consent check",
			slog.String("tenant", tenantID), slog.String("app", appID),
			slog.String("outcome", string(res.Outcome)), slog.Int("roles", len(res.Roles)),
			slog.Any("missing_roles", res.MissingRoles), slog.Bool("roles_unknown", res.RolesUnknown), slog.Bool("sp_enabled", res.SPEnabled),
			slog.Int("aadsts", res.AADSTS), slog.Bool("fresh", o.Fresh), slog.Bool("low_priority", o.LowPriority),
			slog.String("error_code", string(domain.ErrorCode(err))), slog.Duration("retry_after", RetryAfter(err)),
			slog.Duration("elapsed", time.Since(start)))
	}
	return res, err
}

func (c *Checker) check(ctx context.Context, tenantID, appID string, o CheckOptions) (CheckResult, error) {
	cred, err := c.creds.For(tenantID, appID)
	if err != nil {
		return CheckResult{}, err
	}
	tok, err := getToken(ctx, cred)
	if err != nil {
		return tokenOutcome(ctx, tenantID, err)
	}
	var res CheckResult
	if roles, err := rolesOf(tok.Token); err != nil {
		// Microsoft may stop issuing readable JWTs for its APIs ("tokens for
		// Microsoft services can use a special format that will not validate
		// as a JWT", Entra access-tokens page): the service principal still
		// gives a verdict, with the roles unknown. Callers warn once per run.
		res.RolesUnknown = true
	} else {
		res.Roles, res.MissingRoles = roles, missingRoles(c.required, roles)
	}

	adapter, err := c.graph.adapter(cred)
	if err != nil {
		return CheckResult{}, domain.Wrap(domain.CodeInternal, err, "check tenant %s", tenantID)
	}
	cfg := &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{
			Select: []string{"id", "accountEnabled", "disabledByMicrosoftStatus"},
		},
	}
	if o.LowPriority {
		cfg.Headers = abs.NewRequestHeaders()
		cfg.Headers.Add("x-ms-throttle-priority", "low")
	}
	sp, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(c.graph.pathParams(), adapter, &appID).Get(ctx, cfg)
	if err != nil {
		return c.graphOutcome(ctx, tenantID, appID, res, err)
	}
	if sp == nil {
		return CheckResult{}, unavailable(errors.New("empty response"), 0, "graph servicePrincipals(appId) for tenant %s", tenantID)
	}
	applyServicePrincipal(&res, sp)
	return res, nil
}

// notDisabledByMicrosoft is the documented "enabled" value of
// disabledByMicrosoftStatus, beside null (Graph v1.0 servicePrincipal resource).
const notDisabledByMicrosoft = "NotDisabled"

// applyServicePrincipal decides consented vs degraded from roles and the SP.
func applyServicePrincipal(res *CheckResult, sp models.ServicePrincipalable) {
	res.SPObjectID = deref(sp.GetId())
	enabled := sp.GetAccountEnabled()
	byMicrosoft := deref(sp.GetDisabledByMicrosoftStatus())
	disabledByMicrosoft := byMicrosoft != "" && !strings.EqualFold(byMicrosoft, notDisabledByMicrosoft)
	res.SPEnabled = enabled != nil && *enabled && !disabledByMicrosoft

	var reasons []string
	if len(res.MissingRoles) > 0 {
		reasons = append(reasons, "missing roles: "+strings.Join(res.MissingRoles, ", "))
	}
	switch {
	case disabledByMicrosoft:
		reasons = append(reasons, "service principal disabled by Microsoft ("+byMicrosoft+")")
	case !res.SPEnabled:
		reasons = append(reasons, "service principal disabled")
	}
	if len(reasons) == 0 {
		res.Outcome = OutcomeConsented
		return
	}
	res.Outcome = OutcomeDegraded
	res.Detail = strings.Join(reasons, "; ")
}

// tokenOutcome turns a failed token request into an outcome or an error.
func tokenOutcome(ctx context.Context, tenantID string, err error) (CheckResult, error) {
	f := classifyTokenError(ctx, err)
	switch f.kind {
	case failRevoked:
		return CheckResult{Outcome: OutcomeRevoked, AADSTS: f.aadsts, Detail: "app not found in tenant: " + f.String()}, nil
	case failDisabled:
		return CheckResult{Outcome: OutcomeDegraded, AADSTS: f.aadsts, Detail: "service principal disabled: " + f.String()}, nil
	case failTenantGone:
		return CheckResult{Outcome: OutcomeTenantGone, AADSTS: f.aadsts, Detail: "tenant not found: " + f.String()}, nil
	case failTransient:
		return CheckResult{}, unavailable(f.cause(), f.retryAfter, "token for tenant %s", tenantID)
	case failOurCredential:
		return CheckResult{}, ourCredentialError(tenantID, f)
	default:
		return CheckResult{}, domain.Wrap(domain.CodeInternal, f.cause(), "token for tenant %s: unexpected answer", tenantID)
	}
}

// ourCredentialError says plainly whose problem it is: an operator must fix
// our app credential; the customer tenant's state is unknown, not changed.
func ourCredentialError(tenantID string, f failure) *domain.Error {
	what := ourCredentialCodes[f.aadsts]
	if what == "" {
		what = "managed identity for the federated credential failed"
	}
	return domain.Wrap(domain.CodeInternal, f.cause(),
		"OUR app credential was rejected (%s) while checking tenant %s; fix the credential, the tenant's consent is unchanged", what, tenantID)
}

// graphOutcome turns a failed servicePrincipals(appId) read into an outcome or an error.
func (c *Checker) graphOutcome(ctx context.Context, tenantID, appID string, res CheckResult, err error) (CheckResult, error) {
	f := classifyGraphError(ctx, err)
	switch {
	case f.kind == failNotFound:
		res.Outcome = OutcomeRevoked
		res.Detail = "service principal not found: " + f.String()
		return res, nil
	case f.kind == failTransient:
		return CheckResult{}, unavailable(f.cause(), f.retryAfter, "graph servicePrincipals(appId) for tenant %s", tenantID)
	case f.status == 401:
		// Graph rejected a token the token endpoint just issued: drop it so
		// the retry starts with a new one.
		c.creds.Forget(tenantID, appID)
		return CheckResult{}, unavailable(f.cause(), 0, "graph rejected the token for tenant %s", tenantID)
	default:
		return CheckResult{}, domain.Wrap(domain.CodeInternal, f.cause(), "graph servicePrincipals(appId) for tenant %s", tenantID)
	}
}

// rolesOf reads the roles claim of a JWT without verifying it: the token
// came straight from the token endpoint over TLS.
func rolesOf(token string) ([]string, error) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || last <= first {
		return nil, errors.New("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token[first+1:last], "="))
	if err != nil {
		return nil, fmt.Errorf("access token payload: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("access token claims: %w", err)
	}
	return claims.Roles, nil
}

// missingRoles lists required roles absent from granted, in required's (sorted) order.
func missingRoles(required, granted []string) []string {
	var missing []string
	for _, r := range required {
		if !slices.Contains(granted, r) {
			missing = append(missing, r)
		}
	}
	return missing
}

func withCallDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, callTimeout)
}
