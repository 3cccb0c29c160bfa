// Package tenants is the operator's write side on one tenant: read it,
// patch it under If-Match, suspend, resume and offboard it, hand out or
// email a consent link, rotate its status link, re-check its consent, and
// the listings the admin API shows beside it. The admin API decodes a
// request, calls one method here and renders the answer; every rule and
// every store call of those flows is here (or on the domain).
//
// Every change is audited under the operator who asked (domain.Actor).
package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

// ConsentLinks mints consent links (consent.Service).
type ConsentLinks interface {
	IssueLink(ctx context.Context, tenantID, actor, actorName string) (consent.Link, error)
}

// StatusLinks rotates status-page links (status.Service).
type StatusLinks interface {
	Rotate(ctx context.Context, tenantID, actor, actorName string) (string, error)
}

// ConsentChecker checks one tenant's consent now (revalidation.Service).
type ConsentChecker interface {
	CheckTenant(ctx context.Context, tenantID string, o revalidation.CheckOptions) (revalidation.CheckOutcome, error)
}

// Service is the tenants service.
type Service struct {
	Store   domain.TenantStore
	Outbox  domain.Outbox
	Consent ConsentLinks
	// Status rotates status links; nil: not configured (CodeUnavailable).
	Status       StatusLinks
	Revalidation ConsentChecker
	Audit        domain.AuditLog
	Now          func() time.Time // nil: time.Now
	Logger       *slog.Logger     // nil: discarded
}

// Validate reports a missing collaborator.
func (s *Service) Validate() error {
	switch {
	case s == nil:
		return errors.New("tenants: no service")
	case s.Store == nil:
		return errors.New("tenants: Store is required")
	case s.Outbox == nil:
		return errors.New("tenants: Outbox is required")
	case s.Consent == nil:
		return errors.New("tenants: Consent is required")
	case s.Revalidation == nil:
		return errors.New("tenants: Revalidation is required")
	case s.Audit.Store == nil:
		return errors.New("tenants: Audit.Store is required")
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// audit records e as done by actor.
func (s *Service) audit(ctx context.Context, actor domain.Actor, e domain.AuditEvent) {
	s.Audit.RecordAs(ctx, actor, e)
}

// notOnboarded replaces a store "not found" (whose message names tables)
// with one for the operator.
func notOnboarded(err error, id string) error {
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Errorf(domain.CodeNotFound, "tenant %s is not onboarded here", id)
	}
	return err
}

// Get reads one tenant.
func (s *Service) Get(ctx context.Context, id string) (*domain.Tenant, error) {
	t, err := s.Store.GetTenant(ctx, id)
	return t, notOnboarded(err, id)
}

// ProvisioningReplayed records an operator's provisioning call that
// changed nothing (a replay of requestID): the provisioning service audits
// what it changes, but the call is still on record.
func (s *Service) ProvisioningReplayed(ctx context.Context, tenantID, requestID string, actor domain.Actor) {
	s.audit(ctx, actor, domain.AuditEvent{TenantID: tenantID, Action: "tenant.provisioning-replayed",
		Details: map[string]string{"requestId": requestID}})
}

// Suspend suspends the tenant; suspending a suspended tenant succeeds
// unchanged. reason "" records a default naming the operator.
func (s *Service) Suspend(ctx context.Context, id, reason string, actor domain.Actor) (*domain.Tenant, error) {
	return s.changeStatus(ctx, id, reason, actor, "tenant.suspended", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		return t.SetStatus(domain.StatusSuspended, reason, now)
	})
}

// Resume returns a suspended tenant to the status it was suspended from;
// any other status is a conflict.
func (s *Service) Resume(ctx context.Context, id, reason string, actor domain.Actor) (*domain.Tenant, error) {
	return s.changeStatus(ctx, id, reason, actor, "tenant.resumed", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		return true, t.Resume(reason, now)
	})
}

// Offboard is a soft delete: the record, its audit trail and its key
// reservation stay; the status makes consent links refused. Its addresses
// leave the IP index so they no longer make another tenant's token-less
// consent ambiguous.
//
// It is idempotent: repeating it, without a reason or with the recorded
// one, returns the unchanged tenant. Offboarding again with another reason
// is a conflict: the new reason would otherwise vanish unnoticed.
func (s *Service) Offboard(ctx context.Context, id, reason string, actor domain.Actor) (*domain.Tenant, error) {
	explicit := reason
	return s.changeStatus(ctx, id, reason, actor, "tenant.offboarded", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		if t.Status == domain.StatusOffboarded && explicit != "" && explicit != t.StatusReason {
			return false, domain.Errorf(domain.CodeConflict, "tenant %s is already offboarded (since %s, reason %q); nothing changed and the new reason was not recorded",
				t.TenantID, t.StatusChanged.UTC().Format(time.RFC3339), t.StatusReason)
		}
		return t.SetStatus(domain.StatusOffboarded, reason, now)
	})
}

// changeStatus applies a lifecycle change under optimistic concurrency and
// audits it; asking for the current status again succeeds unchanged.
func (s *Service) changeStatus(ctx context.Context, id, reason string, actor domain.Actor, action string, change func(*domain.Tenant, string, time.Time) (bool, error)) (*domain.Tenant, error) {
	if reason == "" {
		reason = "operator request by " + actor.Name
	}
	now := s.now()
	var from domain.Status
	var changed bool
	t, err := domain.UpdateTenant(ctx, s.Store, id, func(t *domain.Tenant) (bool, error) {
		from = t.Status
		var err error
		changed, err = change(t, reason, now)
		if changed && err == nil {
			t.UpdatedAt = now
		}
		return changed && err == nil, err
	})
	if err != nil {
		return nil, notOnboarded(err, id)
	}
	if t.Status == domain.StatusOffboarded {
		if err := s.Store.SetAllowedIPs(ctx, t.TenantID, nil); err != nil {
			return nil, fmt.Errorf("clear allowed IPs of offboarded tenant %s: %w", t.TenantID, err)
		}
	}
	s.audit(ctx, actor, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: action, FromState: from, ToState: t.Status, Reason: reason,
		Details: map[string]string{"changed": boolString(changed)}})
	if changed {
		s.log().InfoContext(ctx, "tenant status changed by operator", "tenantId", t.TenantID, "from", from, "to", t.Status, "actor", actor.ID)
	}
	return t, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
