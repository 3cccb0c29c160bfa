// Package consent runs the admin-consent flow: unique consent links, the
// allow-listed start that redirects to Microsoft, the callback that verifies
// consent through Graph before recording anything, and the one-time state.
package consent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// StateTTL is how long a redirect `state` stays valid.
const StateTTL = 10 * time.Minute

// Service is the consent flow.
type Service struct {
	Store               domain.TenantStore
	Checker             domain.ConsentChecker
	Outbox              domain.Outbox
	Regions             domain.Regions
	PublicBaseURL       *url.URL
	ConsentAuthorityURL string // e.g. https://login.microsoftonline.com/
	LinkTTL             time.Duration
	VerifyTimeout       time.Duration
	// Rechecks spaces the re-checks of a pending verification (zero:
	// domain.DefaultRecheckSchedule).
	Rechecks domain.RecheckSchedule
	Now      func() time.Time
	Logger   *slog.Logger
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", domain.Wrap(domain.CodeInternal, err, "read random bytes")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is how link tokens and states are stored: only their SHA-256.
func HashSecret(s string) string { return domain.Digest(s, 32) }

// Link is an issued consent link.
type Link struct {
	URL       string
	ExpiresAt time.Time
}

// IssueLink creates a new unique consent link for the tenant; the previous
// link stops working. actor names who asked (for the audit trail).
func (s *Service) IssueLink(ctx context.Context, tenantID, actor, actorName string) (Link, error) {
	token, err := randomToken(32)
	if err != nil {
		return Link{}, err
	}
	now := s.Now().UTC()
	inv := domain.Invite{TokenHash: HashSecret(token), TenantID: tenantID, IssuedAt: now, ExpiresAt: now.Add(s.LinkTTL)}
	if err := s.Store.PutInvite(ctx, inv); err != nil {
		return Link{}, fmt.Errorf("store consent link for tenant %s: %w", tenantID, err)
	}
	t, err := s.updateTenant(ctx, tenantID, func(t *domain.Tenant) error {
		if !t.ConsentLinkUsable() {
			return domain.Errorf(domain.CodeConflict, "tenant %s is %s; a consent link would be refused", tenantID, t.Status)
		}
		t.InviteHash, t.InviteIssuedAt, t.InviteExpiresAt = inv.TokenHash, inv.IssuedAt, inv.ExpiresAt
		t.UpdatedAt = now
		via := "operator" // handed out by an operator (admin API)
		if actor == "system:email" {
			via = "email"
		}
		t.Emit(domain.EventConsentLinkSent, map[string]string{"via": via, "expiresAt": inv.ExpiresAt.Format(time.RFC3339)})
		return nil
	})
	if err != nil {
		return Link{}, err
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.link-issued", Actor: actor, ActorName: actorName,
		Details: map[string]string{"expiresAt": inv.ExpiresAt.Format(time.RFC3339)}})
	return Link{URL: s.startURL(token), ExpiresAt: inv.ExpiresAt}, nil
}

// startURL is the AdminConsent function's address, with the token when given.
func (s *Service) startURL(token string) string {
	u := s.PublicBaseURL.JoinPath("api", "adminconsent")
	if token != "" {
		u.RawQuery = url.Values{"t": {token}}.Encode()
	}
	return u.String()
}

// StartURL is the token-less consent address (the caller's IP picks the tenant).
func (s *Service) StartURL() string { return s.startURL("") }

func (s *Service) callbackURL() string {
	return s.PublicBaseURL.JoinPath("api", "adminconsent", "callback").String()
}

// updateTenant applies change under optimistic concurrency.
func (s *Service) updateTenant(ctx context.Context, tenantID string, change func(*domain.Tenant) error) (*domain.Tenant, error) {
	return domain.UpdateTenant(ctx, s.Store, tenantID, func(t *domain.Tenant) (bool, error) { return true, change(t) })
}

func (s *Service) audit(ctx context.Context, e domain.AuditEvent) {
	domain.AuditLog{Store: s.Store, Logger: s.Logger, Now: s.Now}.Record(ctx, e)
}
