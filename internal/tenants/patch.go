package tenants

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Patch is a validated merge-style change of the fields an operator may
// edit; nil fields are left alone. The key, region, app and status have
// their own rules and calls.
type Patch struct {
	CustomerName *string
	// PrimaryDomain is the ASCII (punycode) form; "" clears it.
	// PrimaryDomainUnicode is the same domain for display.
	PrimaryDomain        *string
	PrimaryDomainUnicode string
	Contacts             []domain.Contact
	AllowedIPs           []netip.Prefix
}

// Precondition is a PATCH's If-Match: Any (If-Match: *) accepts whatever
// version is current; otherwise the current version must be one of ETags
// (store ETags).
type Precondition struct {
	Any   bool
	ETags []string
}

// ErrNoCurrentTenant is in the chain of Patch's error when If-Match: * named
// a tenant that is not onboarded: there is no current version to match.
var ErrNoCurrentTenant = errors.New("no current version of the tenant")

// Patch applies p under the precondition and audits what changed.
//
// Against named ETags the write is conditional on the version read, so of
// two patches carrying the same ETag exactly one wins, the other is
// CodePreconditionFailed. With Any a concurrent change is re-read and the
// patch applied to it (domain.UpdateTenant's bounded loop).
func (s *Service) Patch(ctx context.Context, id string, cond Precondition, p Patch, actor domain.Actor) (*domain.Tenant, error) {
	var changes map[string]string
	attempt := 0
	t, err := domain.UpdateTenant(ctx, s.Store, id, func(t *domain.Tenant) (bool, error) {
		attempt++
		// A retry means another writer changed the version read first.
		if !cond.Any && (attempt > 1 || !slices.Contains(cond.ETags, t.ETag)) {
			return false, domain.Errorf(domain.CodePreconditionFailed, "If-Match does not name the current version of tenant %s", id)
		}
		if t.Status == domain.StatusOffboarded {
			return false, domain.Errorf(domain.CodeConflict, "tenant %s is Offboarded; its record is kept read-only", id)
		}
		changes = p.apply(t)
		if len(changes) == 0 {
			return false, nil
		}
		t.UpdatedAt = s.now()
		t.Emit(domain.EventUpdated, domain.ChangedFields(changes))
		return true, nil
	})
	if cond.Any && domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, domain.Wrap(domain.CodePreconditionFailed, ErrNoCurrentTenant,
			"If-Match: * needs a current tenant, and tenant %s is not onboarded here", id)
	}
	if !cond.Any && domain.ErrorCode(err) == domain.CodePreconditionFailed {
		return nil, s.staleVersion(ctx, id, err)
	}
	if err != nil {
		return nil, notOnboarded(err, id)
	}
	if p.AllowedIPs != nil {
		// Also when unchanged: a retry after a failed index update repairs it.
		if err := s.Store.SetAllowedIPs(ctx, t.TenantID, t.AllowedIPs); err != nil {
			return nil, err
		}
	}
	if len(changes) == 0 {
		changes = map[string]string{"changed": "nothing"}
	}
	s.audit(ctx, actor, domain.AuditEvent{TenantID: t.TenantID, Action: "tenant.updated", Reason: "operator PATCH", Details: changes})
	return t, nil
}

// apply writes the patch into t and returns what changed, for the audit.
func (p Patch) apply(t *domain.Tenant) map[string]string {
	changes := map[string]string{}
	if p.CustomerName != nil && *p.CustomerName != t.CustomerName {
		changes["customerName"] = t.CustomerName + " -> " + *p.CustomerName
		t.CustomerName = *p.CustomerName
	}
	if p.PrimaryDomain != nil && *p.PrimaryDomain != t.PrimaryDomain {
		changes["primaryDomain"] = t.PrimaryDomain + " -> " + *p.PrimaryDomain
		t.PrimaryDomain = *p.PrimaryDomain
	}
	if p.PrimaryDomain != nil {
		t.PrimaryDomainUnicode = p.PrimaryDomainUnicode
	}
	if p.Contacts != nil && !slices.Equal(p.Contacts, t.Contacts) {
		changes["contacts"] = contactList(t.Contacts) + " -> " + contactList(p.Contacts)
		t.Contacts = p.Contacts
	}
	if p.AllowedIPs != nil && !slices.Equal(p.AllowedIPs, t.AllowedIPs) {
		changes["allowedIps"] = prefixList(t.AllowedIPs) + " -> " + prefixList(p.AllowedIPs)
		t.AllowedIPs = p.AllowedIPs
	}
	return changes
}

func contactList(cs []domain.Contact) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c.Role) + ":" + c.Email
	}
	return strings.Join(parts, " ")
}

func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, " ")
}

// staleVersion adds to a stale-ETag error who made the tenant's last
// recorded change, for the operator who lost the race (best effort: the
// error stands without it).
func (s *Service) staleVersion(ctx context.Context, id string, err error) error {
	page, lerr := s.Store.ListAudit(ctx, id, 1, "")
	if lerr != nil || len(page.Items) == 0 {
		return err
	}
	e := page.Items[0]
	who := e.Actor
	if e.ActorName != "" {
		who = e.ActorName + " (" + e.Actor + ")"
	}
	return domain.Wrap(domain.CodePreconditionFailed, err, "tenant %s changed since it was read; last recorded change: %s by %s at %s",
		id, e.Action, who, e.At.UTC().Format(time.RFC3339))
}
