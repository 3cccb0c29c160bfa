package consent

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// RefusalKind says why consent could not start.
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

// Refusal is a refused consent start; handlers show it as a 403 page.
type Refusal struct {
	Kind   RefusalKind
	SeenIP netip.Addr
	Tenant *domain.Tenant // nil when no tenant was identified
	// LinkProven: the caller presented a valid link, so showing the
	// tenant's allowed ranges leaks nothing they do not already hold.
	LinkProven bool
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("consent refused (%s) for %s", r.Kind, r.SeenIP)
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
		return nil, s.auditRefusal(ctx, err, now)
	}
	state, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	cs := domain.ConsentState{StateHash: HashSecret(state), TenantID: t.TenantID, ClientIP: ip.String(), CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if err := s.Store.PutConsentState(ctx, cs); err != nil {
		return nil, fmt.Errorf("store consent state for tenant %s: %w", t.TenantID, err)
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.started", Actor: "customer-admin", SourceIP: ip.String(),
		Details: map[string]string{"via": map[bool]string{true: "link", false: "ip"}[proven]}})
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

func (s *Service) auditRefusal(ctx context.Context, err error, now time.Time) error {
	r, ok := err.(*Refusal)
	if !ok {
		return err
	}
	s.Logger.Warn("consent start refused", "kind", r.Kind, "ip", r.SeenIP.String())
	if r.Tenant != nil {
		s.audit(ctx, domain.AuditEvent{TenantID: r.Tenant.TenantID, At: now, Action: "consent.refused", Actor: "customer-admin",
			SourceIP: r.SeenIP.String(), Reason: string(r.Kind)})
	}
	return r
}
