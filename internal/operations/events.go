package operations

import (
	"context"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// MaxAuditConsidered bounds the audit events one cross-tenant listing
// gathers and pages through (the store returns matches newest first).
const MaxAuditConsidered = 5000

// EventPage is one page of the audit log across tenants. Next is the
// offset of the following page, 0 on the last one.
type EventPage struct {
	Items []domain.AuditEvent
	Next  int
}

// Events lists audit events across tenants matching q (q.Limit is
// ignored), newest first: pageSize of them from offset.
func (s *Service) Events(ctx context.Context, q domain.AuditQuery, offset, pageSize int) (EventPage, error) {
	rs, err := s.records()
	if err != nil {
		return EventPage{}, err
	}
	q.Limit = MaxAuditConsidered
	evs, err := rs.SearchAudit(ctx, q)
	if err != nil {
		return EventPage{}, err
	}
	end := min(len(evs), max(0, offset)+pageSize)
	out := EventPage{Items: evs[min(max(0, offset), end):end]}
	if end < len(evs) {
		out.Next = end
	}
	return out, nil
}

// TenantEmails lists a tenant's email jobs, newest first.
func (s *Service) TenantEmails(ctx context.Context, tenantID string) ([]*domain.MailRecord, error) {
	if _, err := s.Store.GetTenant(ctx, tenantID); err != nil {
		return nil, tenantNotFound(err, tenantID)
	}
	rs, err := s.records()
	if err != nil {
		return nil, err
	}
	return rs.TenantMail(ctx, tenantID)
}
