package tenants

import (
	"context"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

// Recheck checks the tenant's consent now and applies the answer as the
// scheduled run would, then audits the operator's request.
func (s *Service) Recheck(ctx context.Context, id string, actor domain.Actor) (revalidation.CheckOutcome, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return revalidation.CheckOutcome{}, err
	}
	out, err := s.Revalidation.CheckTenant(ctx, id, revalidation.CheckOptions{Actor: actor.ID, ActorName: actor.Name})
	if err != nil {
		return out, err
	}
	details := map[string]string{"transition": boolString(out.Transition)}
	switch {
	case out.Skipped:
		details["skipped"] = out.SkipReason
	case out.Check != nil:
		details["outcome"] = string(out.Check.Outcome)
	case out.Error != "":
		details["error"] = domain.Truncate(out.Error, 300)
	}
	s.audit(ctx, actor, domain.AuditEvent{TenantID: id, Action: "consent.revalidation-requested", FromState: out.From, ToState: out.To, Details: details})
	return out, nil
}

// Events pages the tenant's audit trail, newest first.
func (s *Service) Events(ctx context.Context, id string, pageSize int, continuation string) (domain.Page[domain.AuditEvent], error) {
	if _, err := s.Get(ctx, id); err != nil {
		return domain.Page[domain.AuditEvent]{}, err
	}
	return s.Store.ListAudit(ctx, id, pageSize, continuation)
}
