package consent

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// RefusalKind says why consent could not start (or finish).
type RefusalKind string

const (
	RefusedIPNotAllowed   RefusalKind = "ip-not-allowed"
	RefusedLinkUnknown    RefusalKind = "link-unknown"
	RefusedLinkExpired    RefusalKind = "link-expired"
	RefusedLinkSuperseded RefusalKind = "link-superseded"
	RefusedTenantInactive RefusalKind = "tenant-inactive"
	RefusedNoTenantForIP  RefusalKind = "no-tenant-for-ip"
	RefusedAmbiguousIP    RefusalKind = "ambiguous-ip"
)

// Stage is where in the flow a refusal happened.
type Stage string

const (
	StageStart    Stage = "start"
	StageCallback Stage = "callback"
)

// Refusal is a refused consent start or callback; handlers show it as a 4xx
// page. Nothing is recorded on the tenant; the refusal is audited when a
// tenant is known.
type Refusal struct {
	Kind   RefusalKind
	SeenIP netip.Addr
	Tenant *domain.Tenant // nil when no tenant was identified
	// LinkProven: the caller presented a valid link (or state) for Tenant.
	LinkProven bool
	Stage      Stage  // "" means StageStart
	StartIP    string // callbacks: the address that started consent
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("consent refused (%s) for %s", r.Kind, r.SeenIP)
}

// Reason is the refusal's short reason for logs and the audit trail.
func (r *Refusal) Reason() string {
	if r.Kind == RefusedTenantInactive && r.Tenant != nil {
		return "tenant-" + strings.ToLower(string(r.Tenant.Status))
	}
	return string(r.Kind)
}

// StartResult is where to send the admin.
type StartResult struct {
	RedirectURL string
	Tenant      *domain.Tenant
}

// Start resolves the tenant from the link token (or, without one, from the
// caller's IP), checks the allow-list and link, creates a one-time state and
// returns the Microsoft admin-consent URL. Refusals are audited when a tenant
// is known.
func (s *Service) Start(ctx context.Context, token string, ip netip.Addr) (*StartResult, error) {
	now := s.Now().UTC()
	t, proven, err := s.resolveTenant(ctx, token, ip, now)
	if err != nil {
		return nil, s.refuse(ctx, err, now)
	}
	via := map[bool]string{true: "link", false: "ip"}[proven]
	return s.start(ctx, t, ip, via, now)
}

// StartAgain is the "try again" of a finished callback: retry names that
// callback's state. It works while the consent link that led there works,
// from the tenant's allowed addresses.
func (s *Service) StartAgain(ctx context.Context, retry string, ip netip.Addr) (*StartResult, error) {
	now := s.Now().UTC()
	t, err := s.resolveRetry(ctx, retry, ip, now)
	if err != nil {
		return nil, s.refuse(ctx, err, now)
	}
	return s.start(ctx, t, ip, "retry", now)
}

func (s *Service) start(ctx context.Context, t *domain.Tenant, ip netip.Addr, via string, now time.Time) (*StartResult, error) {
	state, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	cs := domain.ConsentState{StateHash: HashSecret(state), TenantID: t.TenantID, ClientIP: ip.String(), CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if err := s.Store.PutConsentState(ctx, cs); err != nil {
		return nil, fmt.Errorf("store consent state for tenant %s: %w", t.TenantID, err)
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.started", Actor: "customer-admin", SourceIP: ip.String(),
		Details: map[string]string{"via": via}})
	s.Logger.Info("consent started", "tenantId", t.TenantID, "ip", ip.String(), "via", via)
	q := url.Values{
		"client_id":    {t.AppID},
		"scope":        {"https://graph.microsoft.com/.default"},
		"redirect_uri": {s.callbackURL()},
		"state":        {state},
	}
	redirect := s.ConsentAuthorityURL + url.PathEscape(t.TenantID) + "/v2.0/adminconsent?" + q.Encode()
	return &StartResult{RedirectURL: redirect, Tenant: t}, nil
}

func (s *Service) resolveTenant(ctx context.Context, token string, ip netip.Addr, now time.Time) (*domain.Tenant, bool, error) {
	if token == "" {
		ids, err := s.Store.TenantsAllowingIP(ctx, ip)
		if err != nil {
			return nil, false, fmt.Errorf("look up tenants allowing %s: %w", ip, err)
		}
		switch len(ids) {
		case 0:
			return nil, false, &Refusal{Kind: RefusedNoTenantForIP, SeenIP: ip}
		case 1:
		default:
			return nil, false, &Refusal{Kind: RefusedAmbiguousIP, SeenIP: ip}
		}
		t, err := s.Store.GetTenant(ctx, ids[0])
		if err != nil {
			return nil, false, fmt.Errorf("load tenant %s: %w", ids[0], err)
		}
		if !t.ConsentLinkUsable() {
			return nil, false, &Refusal{Kind: RefusedTenantInactive, SeenIP: ip, Tenant: t}
		}
		return t, false, nil
	}
	hash := HashSecret(token)
	inv, err := s.Store.GetInvite(ctx, hash)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, false, &Refusal{Kind: RefusedLinkUnknown, SeenIP: ip}
	}
	if err != nil {
		return nil, false, fmt.Errorf("load consent link: %w", err)
	}
	t, err := s.Store.GetTenant(ctx, inv.TenantID)
	if err != nil {
		return nil, false, fmt.Errorf("load tenant %s: %w", inv.TenantID, err)
	}
	switch {
	case !t.ConsentLinkUsable():
		return nil, false, &Refusal{Kind: RefusedTenantInactive, SeenIP: ip, Tenant: t, LinkProven: true}
	case t.InviteHash != hash:
		return nil, false, &Refusal{Kind: RefusedLinkSuperseded, SeenIP: ip, Tenant: t, LinkProven: true}
	case !now.Before(inv.ExpiresAt):
		return nil, false, &Refusal{Kind: RefusedLinkExpired, SeenIP: ip, Tenant: t, LinkProven: true}
	case !t.AllowsIP(ip):
		return nil, false, &Refusal{Kind: RefusedIPNotAllowed, SeenIP: ip, Tenant: t, LinkProven: true}
	}
	return t, true, nil
}

// resolveRetry applies the consent link's rules to a "try again" link: the
// tenant is active, no newer link was issued since, the link has not
// expired and the caller is on the allow-list.
func (s *Service) resolveRetry(ctx context.Context, retry string, ip netip.Addr, now time.Time) (*domain.Tenant, error) {
	if retry == "" || len(retry) > 512 {
		return nil, &Refusal{Kind: RefusedLinkUnknown, SeenIP: ip}
	}
	rec, err := s.Store.GetConsentState(ctx, receiptHash(retry))
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, &Refusal{Kind: RefusedLinkUnknown, SeenIP: ip}
	}
	if err != nil {
		return nil, fmt.Errorf("load consent receipt: %w", err)
	}
	t, err := s.Store.GetTenant(ctx, rec.TenantID)
	if err != nil {
		return nil, fmt.Errorf("load tenant %s: %w", rec.TenantID, err)
	}
	switch {
	case !t.ConsentLinkUsable():
		return nil, &Refusal{Kind: RefusedTenantInactive, SeenIP: ip, Tenant: t, LinkProven: true}
	case t.InviteIssuedAt.After(rec.CreatedAt):
		return nil, &Refusal{Kind: RefusedLinkSuperseded, SeenIP: ip, Tenant: t, LinkProven: true}
	case !now.Before(t.InviteExpiresAt) || !now.Before(rec.ExpiresAt):
		return nil, &Refusal{Kind: RefusedLinkExpired, SeenIP: ip, Tenant: t, LinkProven: true}
	case !t.AllowsIP(ip):
		return nil, &Refusal{Kind: RefusedIPNotAllowed, SeenIP: ip, Tenant: t, LinkProven: true}
	}
	return t, nil
}

// Retry is where a page's "try again" leads.
type Retry struct {
	URL string // "" when there is nothing that would work
	// LinkExpired: the consent link has expired (or was replaced), so the
	// admin needs a new one from support.
	LinkExpired bool
}

// retry is the "try again" of a finished callback. The tenant's status page
// link is added next to it by the callback handler (handlers/consentcallback.go
// statusLink), which has the request context to mint one.
func (s *Service) retry(t *domain.Tenant, state string, now time.Time) Retry {
	if t == nil || !t.ConsentLinkUsable() {
		return Retry{}
	}
	if t.InviteExpiresAt.IsZero() || !now.Before(t.InviteExpiresAt) {
		return Retry{LinkExpired: true}
	}
	u := s.PublicBaseURL.JoinPath("api", "adminconsent")
	u.RawQuery = url.Values{"retry": {state}}.Encode()
	return Retry{URL: u.String()}
}

// refuse logs and audits a refusal (audited only when a tenant is known);
// any other error passes through.
func (s *Service) refuse(ctx context.Context, err error, now time.Time) error {
	r, ok := err.(*Refusal)
	if !ok {
		return err
	}
	stage := r.Stage
	if stage == "" {
		stage = StageStart
	}
	tenantID := ""
	if r.Tenant != nil {
		tenantID = r.Tenant.TenantID
	}
	s.Logger.Warn("consent refused", "tenantId", tenantID, "reason", r.Reason(), "ip", r.SeenIP.String(), "stage", string(stage), "startIp", r.StartIP)
	if r.Tenant != nil {
		details := map[string]string{"stage": string(stage)}
		if r.StartIP != "" {
			details["startIp"] = r.StartIP
		}
		s.audit(ctx, domain.AuditEvent{TenantID: r.Tenant.TenantID, At: now, Action: "consent.refused", Actor: "customer-admin",
			SourceIP: r.SeenIP.String(), Reason: r.Reason(), FromState: r.Tenant.Status, Details: details})
	}
	return r
}
