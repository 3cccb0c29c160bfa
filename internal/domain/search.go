package domain

import (
	"context"
	"slices"
	"strings"
	"time"
)

// TenantSort orders a tenant search.
type TenantSort string

// Sort keys; a leading "-" reverses (see ParseTenantSort).
const (
	SortTenantID TenantSort = "tenantId"
	SortName     TenantSort = "name"
	SortCreated  TenantSort = "created"
	SortStatus   TenantSort = "status"
)

// TenantQuery is a tenant search: TenantFilter plus more searched fields,
// an order and an offset page.
type TenantQuery struct {
	Filter TenantFilter // Text also matches tenant key, contact emails and a tenant ID prefix
	Sort   TenantSort
	Desc   bool
	Offset int
	Limit  int
}

// TenantSearchResult is one page of a search and how many match in all.
type TenantSearchResult struct {
	Items []*Tenant
	Total int
}

// TenantSearcher answers tenant searches (the console's tenant list).
type TenantSearcher interface {
	SearchTenants(ctx context.Context, q TenantQuery) (TenantSearchResult, error)
}

// ParseTenantSort reads "name", "-created", ...; "" is tenant-ID order.
func ParseTenantSort(s string) (TenantSort, bool, error) {
	desc := strings.HasPrefix(s, "-")
	key := TenantSort(strings.TrimPrefix(s, "-"))
	switch key {
	case "":
		if desc {
			break
		}
		return SortTenantID, false, nil
	case SortTenantID, SortName, SortCreated, SortStatus:
		return key, desc, nil
	}
	return "", false, FieldError("sort", "%q is not a sort order (tenantId, name, created or status, optionally prefixed with -)", s)
}

// MatchesTenantQuery reports whether t passes q's filter. lowerText is
// strings.ToLower of the trimmed search text.
func MatchesTenantQuery(t *Tenant, f TenantFilter, lowerText string) bool {
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, t.Status) {
		return false
	}
	if f.Region != "" && t.Region != f.Region {
		return false
	}
	if f.ConsentOutcome != "" && t.LastConsentOutcome != f.ConsentOutcome {
		return false
	}
	if lowerText == "" {
		return true
	}
	if strings.HasPrefix(strings.ToLower(t.TenantID), lowerText) ||
		containsFold(t.CustomerName, lowerText) || containsFold(t.PrimaryDomain, lowerText) ||
		containsFold(t.PrimaryDomainUnicode, lowerText) || containsFold(t.TenantKey, lowerText) {
		return true
	}
	for _, c := range t.Contacts {
		if containsFold(c.Email, lowerText) {
			return true
		}
	}
	return false
}

func containsFold(s, lowerSub string) bool {
	return s != "" && strings.Contains(strings.ToLower(s), lowerSub)
}

// SearchTenantList filters, sorts and pages tenants in memory. all is not
// modified.
func SearchTenantList(all []*Tenant, q TenantQuery) TenantSearchResult {
	text := strings.ToLower(strings.TrimSpace(q.Filter.Text))
	var hits []*Tenant
	for _, t := range all {
		if MatchesTenantQuery(t, q.Filter, text) {
			hits = append(hits, t)
		}
	}
	slices.SortFunc(hits, func(a, b *Tenant) int {
		c := 0
		switch q.Sort {
		case SortName:
			c = strings.Compare(strings.ToLower(a.CustomerName), strings.ToLower(b.CustomerName))
		case SortCreated:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case SortStatus:
			c = strings.Compare(string(a.Status), string(b.Status))
		}
		if c == 0 {
			c = strings.Compare(a.TenantID, b.TenantID)
		}
		if q.Desc {
			c = -c
		}
		return c
	})
	res := TenantSearchResult{Total: len(hits)}
	if q.Offset < len(hits) {
		end := len(hits)
		if q.Limit > 0 {
			end = min(end, q.Offset+q.Limit)
		}
		res.Items = hits[q.Offset:end]
	}
	return res
}

// AuditQuery filters the audit trail across tenants. Empty fields match
// everything; Action ending in "." is a prefix.
type AuditQuery struct {
	Actor    string
	Action   string
	From, To time.Time // [From, To)
	Limit    int       // most events considered
}

// RecordSearcher reads records across tenants (the console's audit log,
// a tenant's emails).
type RecordSearcher interface {
	// SearchAudit returns matching events newest first, at most q.Limit.
	SearchAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// TenantMail lists the tenant's email jobs, newest first.
	TenantMail(ctx context.Context, tenantID string) ([]*MailRecord, error)
}
