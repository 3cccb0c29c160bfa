// Package status is the customer's status page behind a per-tenant
// capability link, and live detection from join-page requests.
//
// Links: every customer email and the consent pages carry a status link.
// The raw token is only known when it is minted, and only its SHA-256 is
// stored (like consent links), so a link is minted whenever one is needed
// (per email, per page). All links of the tenant's current generation work;
// an operator's rotation bumps the generation, which kills every older link
// at once. Offboarding keeps the links resolvable but the page only says
// "no longer active".
package status

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// DefaultConsentAgainInterval is the status page's rate limit on "grant
// consent again" emails, per tenant.
const DefaultConsentAgainInterval = 15 * time.Minute

// ErrNotFound: the token names no link of the tenant's current generation.
var ErrNotFound = errors.New("status: no such link")

// ErrRateLimited: a consent-again email was asked for too recently.
type ErrRateLimited struct{ RetryAt time.Time }

func (e *ErrRateLimited) Error() string {
	return "status: consent email already requested; next possible at " + e.RetryAt.Format(time.RFC3339)
}

// Service mints and resolves status links.
type Service struct {
	Store         domain.TenantStore
	Outbox        domain.Outbox
	PublicBaseURL *url.URL
	// ConsentAgainInterval: zero is DefaultConsentAgainInterval.
	ConsentAgainInterval time.Duration
	Now                  func() time.Time
	Logger               *slog.Logger
}

// dummyTenantID is read when a token names nothing, so a miss does the same
// store work as a hit (two point reads).
const dummyTenantID = "00000000-0000-0000-0000-000000000000"

// maxTokenLen bounds what is hashed; minted tokens are 43 characters.
const maxTokenLen = 128

func hashToken(tok string) string { return domain.Digest(tok, 32) }

// URL is the status page address of a raw token.
func (s *Service) URL(token string) string {
	return s.PublicBaseURL.JoinPath("api", "status", token).String()
}

// Link mints a working status link for the tenant (generation 1 is issued
// on first use). It returns "" for an offboarded tenant.
func (s *Service) Link(ctx context.Context, tenantID string) (string, error) {
	return s.mint(ctx, tenantID, false, "", "")
}

// Rotate kills every link of the tenant and returns a new one (audited).
func (s *Service) Rotate(ctx context.Context, tenantID, actor, actorName string) (string, error) {
	return s.mint(ctx, tenantID, true, actor, actorName)
}

func (s *Service) mint(ctx context.Context, tenantID string, rotate bool, actor, actorName string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", domain.Wrap(domain.CodeInternal, err, "read random bytes")
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now().UTC()
	t, err := domain.UpdateTenant(ctx, s.Store, tenantID, func(t *domain.Tenant) (bool, error) {
		if t.Status == domain.StatusOffboarded {
			if rotate {
				return false, domain.Errorf(domain.CodeConflict, "tenant %s is Offboarded; its status page is no longer active", tenantID)
			}
			return false, nil
		}
		if t.StatusLinkGeneration > 0 && !rotate {
			return false, nil
		}
		t.StatusLinkGeneration++
		t.StatusLinkIssuedAt, t.UpdatedAt = now, now
		return true, nil
	})
	if err != nil {
		return "", err
	}
	if t.Status == domain.StatusOffboarded {
		return "", nil
	}
	// The row is written after the generation: a crash between the two
	// leaves an unused generation, never a link that outlives a rotation.
	l := domain.StatusLink{TokenHash: hashToken(token), TenantID: t.TenantID, Generation: t.StatusLinkGeneration, IssuedAt: now}
	if err := s.Store.PutStatusLink(ctx, l); err != nil {
		return "", fmt.Errorf("store status link for tenant %s: %w", tenantID, err)
	}
	if rotate {
		s.auditLog().Record(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "status.link-rotated", Actor: actor, ActorName: actorName,
			Details: map[string]string{"generation": fmt.Sprint(t.StatusLinkGeneration)}})
		s.Logger.Info("status link rotated", "tenantId", t.TenantID, "generation", t.StatusLinkGeneration)
	}
	return s.URL(token), nil
}

// Resolve finds the tenant of a token. Hit or miss, it hashes the token and
// makes two point reads, so response time says nothing about the token.
// An offboarded tenant is returned (the page says "no longer active").
func (s *Service) Resolve(ctx context.Context, token string) (*domain.Tenant, error) {
	if len(token) > maxTokenLen {
		token = token[:maxTokenLen]
	}
	hash := hashToken(token)
	l, err := s.Store.GetStatusLink(ctx, hash)
	miss := false
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		miss, l.TenantID = true, dummyTenantID
	case err != nil:
		return nil, fmt.Errorf("load status link: %w", err)
	}
	t, err := s.Store.GetTenant(ctx, l.TenantID)
	switch {
	case miss:
		return nil, ErrNotFound
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("load tenant %s: %w", l.TenantID, err)
	}
	// Stored hashes are compared in constant time anyway: cheap, and no
	// reliance on the store's lookup semantics.
	if subtle.ConstantTimeCompare([]byte(l.TokenHash), []byte(hash)) != 1 || l.Generation != t.StatusLinkGeneration {
		return nil, ErrNotFound
	}
	return t, nil
}

// CanAskConsentAgain reports whether the page offers "grant consent again".
func CanAskConsentAgain(t *domain.Tenant) bool {
	return (t.Status == domain.StatusDegraded || t.Status == domain.StatusRevoked) && len(t.AdminContacts()) > 0
}

// AskConsentAgain emails a fresh consent link to the tenant's admin
// contacts, at most once per interval per tenant (the limit is on the
// record, so it holds across instances), audited.
func (s *Service) AskConsentAgain(ctx context.Context, tenantID, sourceIP string) error {
	interval := s.ConsentAgainInterval
	if interval <= 0 {
		interval = DefaultConsentAgainInterval
	}
	now := s.Now().UTC()
	t, err := domain.UpdateTenant(ctx, s.Store, tenantID, func(t *domain.Tenant) (bool, error) {
		if !CanAskConsentAgain(t) {
			return false, domain.Errorf(domain.CodeConflict, "tenant %s is %s; no consent is needed", tenantID, t.Status)
		}
		if next := t.ConsentAgainAt.Add(interval); now.Before(next) {
			return false, &ErrRateLimited{RetryAt: next}
		}
		t.ConsentAgainAt = now
		return true, nil
	})
	if err != nil {
		return err
	}
	var to []string
	for _, c := range t.AdminContacts() {
		to = append(to, c.Email)
	}
	// The key starts with domain.ConsentAgainKeyPrefix: notify sends these
	// to Degraded tenants too.
	job := domain.ConsentAgainJob(t.TenantID, to, t.ConsentAgainAt)
	if err := s.Outbox.SendEmail(ctx, job, time.Time{}); err != nil {
		return fmt.Errorf("queue consent email for tenant %s: %w", t.TenantID, err)
	}
	s.auditLog().Record(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.link-requested", Actor: "customer-admin", SourceIP: sourceIP,
		FromState: t.Status, Details: map[string]string{"via": "status-page", "recipients": fmt.Sprint(len(to))}})
	s.Logger.Info("consent link requested from the status page", "tenantId", t.TenantID, "recipients", len(to))
	return nil
}

func (s *Service) auditLog() domain.AuditLog {
	return domain.AuditLog{Store: s.Store, Logger: s.Logger, Now: s.Now}
}
