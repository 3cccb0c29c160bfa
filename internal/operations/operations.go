// Package operations is the read side of the operator API and its
// dead-letter tools: tenant search, the overview (counts, funnel,
// needs-attention), revalidation-run detail, rejections and runs, the audit
// log across tenants, a tenant's emails, and listing and resubmitting dead
// letters. The admin API decodes, calls this service and renders.
//
// Tenant search and everything that reads all tenants go through the
// store's in-memory, change-tracked listing (tablestore/search.go: one
// `Timestamp ge` catch-up query before every search) when the store offers
// one; other stores are read in full.
package operations

import (
	"context"
	"log/slog"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Service answers the operator's reads. Its fields are set once.
type Service struct {
	Store domain.TenantStore
	// DeadLetters reaches the queues' dead letters; nil answers
	// CodeUnavailable.
	DeadLetters domain.DeadLetters
	Regions     domain.Regions
	// ReminderDelay is when a tenant without consent needs attention (the
	// provisioning reminder's delay); 0 never.
	ReminderDelay time.Duration
	// AlertAfter is how many consecutive failed checks need attention
	// (revalidation's alert threshold; below 1 counts as 1).
	AlertAfter int
	Now        func() time.Time
	Logger     *slog.Logger
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

func (s *Service) auditLog() domain.AuditLog {
	return domain.AuditLog{Store: s.Store, Logger: s.log(), Now: s.Now}
}

// SearchTenants answers a tenant search. Items may be shared with the
// store's index: callers must not modify them.
func (s *Service) SearchTenants(ctx context.Context, q domain.TenantQuery) (domain.TenantSearchResult, error) {
	if ts, ok := s.Store.(domain.TenantSearcher); ok {
		return ts.SearchTenants(ctx, q)
	}
	all, err := s.allTenants(ctx)
	if err != nil {
		return domain.TenantSearchResult{}, err
	}
	return domain.SearchTenantList(all, q), nil
}

// allTenants reads every tenant: from the search index when the store has
// one, else by listing.
func (s *Service) allTenants(ctx context.Context) ([]*domain.Tenant, error) {
	if ts, ok := s.Store.(domain.TenantSearcher); ok {
		res, err := ts.SearchTenants(ctx, domain.TenantQuery{Sort: domain.SortTenantID})
		return res.Items, err
	}
	var all []*domain.Tenant
	cont := ""
	for {
		page, err := s.Store.ListTenants(ctx, domain.TenantFilter{}, 1000, cont)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		cont = page.Next
	}
}

// records is the store's cross-tenant reader.
func (s *Service) records() (domain.RecordSearcher, error) {
	rs, ok := s.Store.(domain.RecordSearcher)
	if !ok {
		return nil, domain.Errorf(domain.CodeUnavailable, "this store cannot search records across tenants")
	}
	return rs, nil
}

// tenantNotFound replaces a store "not found" (whose message names tables)
// with one for the operator.
func tenantNotFound(err error, id string) error {
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Errorf(domain.CodeNotFound, "tenant %s is not onboarded here", id)
	}
	return err
}
