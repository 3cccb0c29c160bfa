package adminapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
)

// createTenant applies a provisioning v1 body exactly as the queue does
// (same validation, same requestId idempotency).
func (a *API) createTenant(c *call) error {
	res, err := a.deps.Provisioning.Provision(c.ctx, c.body, provisioning.Source{Kind: "api", Actor: c.actor(), ActorName: c.principal.Name})
	if err != nil {
		return err
	}
	t := res.Tenant
	status := http.StatusOK
	if res.Outcome == provisioning.OutcomeCreated {
		status = http.StatusCreated
	}
	if res.Outcome == provisioning.OutcomeReplay {
		// The service audits what it changes; a replay changes nothing,
		// but the operator's call is still on record. The body was
		// valid, so its requestId decodes.
		var req struct {
			RequestID string `json:"requestId"`
		}
		_ = json.Unmarshal(c.body, &req)
		a.audit(c, domain.AuditEvent{TenantID: t.TenantID, Action: "tenant.provisioning-replayed",
			Details: map[string]string{"requestId": req.RequestID}})
	}
	c.w.Header().Set("Location", Prefix+"tenants/"+t.TenantID)
	c.w.Header().Set("ETag", httpETag(t.ETag))
	return writeJSON(c.w, status, provisionView{Outcome: string(res.Outcome), Tenant: a.viewTenant(t)})
}

// GET /tenants is searchTenants (search.go).

func (a *API) getTenant(c *call) error {
	t, err := a.loadTenant(c)
	if err != nil {
		return err
	}
	return a.writeTenant(c, t)
}

func (a *API) writeTenant(c *call, t *domain.Tenant) error {
	c.w.Header().Set("ETag", httpETag(t.ETag))
	return writeJSON(c.w, http.StatusOK, a.viewTenant(t))
}

// loadTenant validates the path's tenant ID and reads the tenant.
func (a *API) loadTenant(c *call) (*domain.Tenant, error) {
	id, err := tenantIDParam(c)
	if err != nil {
		return nil, err
	}
	t, err := a.deps.Store.GetTenant(c.ctx, id)
	return t, tenantNotFound(err, id)
}

// tenantNotFound replaces a store "not found" (whose message names tables)
// with one for the operator.
func tenantNotFound(err error, id string) error {
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Errorf(domain.CodeNotFound, "tenant %s is not onboarded here", id)
	}
	return err
}

// patchTenant changes name, domain, contacts and allowed IPs under If-Match.
func (a *API) patchTenant(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	tags, err := ifMatch(c.r)
	if err != nil {
		return err
	}
	patch, err := decodeTenantPatch(c.body, a.deps.IPPolicy)
	if err != nil {
		return err
	}
	anyVersion := slices.Equal(tags, []string{anyETag})
	var t *domain.Tenant
	var changes map[string]string
	for attempt := 0; ; attempt++ {
		t, err = a.deps.Store.GetTenant(c.ctx, id)
		if anyVersion && domain.ErrorCode(err) == domain.CodeNotFound {
			return httpError{status: http.StatusPreconditionFailed, kind: "precondition-failed", title: "Precondition failed",
				detail: "If-Match: * needs a current tenant, and tenant " + id + " is not onboarded here"}
		}
		if err != nil {
			return tenantNotFound(err, id)
		}
		if !anyVersion && !slices.Contains(tags, t.ETag) {
			return domain.Errorf(domain.CodePreconditionFailed, "If-Match does not name the current version of tenant %s", id)
		}
		if t.Status == domain.StatusOffboarded {
			return domain.Errorf(domain.CodeConflict, "tenant %s is Offboarded; its record is kept read-only", id)
		}
		changes = patch.apply(t)
		if len(changes) == 0 {
			break
		}
		t.UpdatedAt = a.now().UTC()
		t.Emit(domain.EventUpdated, domain.ChangedFields(changes))
		// Conditional on the version just read, so of two PATCHes
		// carrying the same ETag exactly one wins; with * (any version)
		// a concurrent change is re-read and the patch applied to it.
		err = a.deps.Store.UpdateTenant(c.ctx, t)
		if err == nil {
			break
		}
		if !anyVersion || domain.ErrorCode(err) != domain.CodePreconditionFailed || attempt >= 5 {
			return err
		}
	}
	if patch.allowedIPs != nil {
		// Also when unchanged: a retry after a failed index update repairs it.
		if err := a.deps.Store.SetAllowedIPs(c.ctx, t.TenantID, t.AllowedIPs); err != nil {
			return err
		}
	}
	if len(changes) == 0 {
		changes = map[string]string{"changed": "nothing"}
	}
	a.audit(c, domain.AuditEvent{TenantID: t.TenantID, Action: "tenant.updated", Reason: "operator PATCH", Details: changes})
	return a.writeTenant(c, t)
}

func (a *API) suspendTenant(c *call) error {
	return a.changeStatus(c, "tenant.suspended", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		return t.SetStatus(domain.StatusSuspended, reason, now)
	})
}

func (a *API) resumeTenant(c *call) error {
	return a.changeStatus(c, "tenant.resumed", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		return true, t.Resume(reason, now)
	})
}

// offboardTenant is a soft delete: the record, its audit trail and its key
// reservation stay; the status makes consent links refused. Its addresses
// leave the IP index so they no longer make another tenant's token-less
// consent ambiguous.
//
// DELETE is idempotent (RFC 9110 §9.2.2): repeating it, without a reason or
// with the recorded one, answers 200 with the unchanged tenant. A second
// offboarding with another reason is 409: the tenant is already offboarded
// and the new reason would otherwise vanish unnoticed.
func (a *API) offboardTenant(c *call) error {
	explicit, err := reasonBody(c.body, true)
	if err != nil {
		return err
	}
	return a.changeStatus(c, "tenant.offboarded", func(t *domain.Tenant, reason string, now time.Time) (bool, error) {
		if t.Status == domain.StatusOffboarded && explicit != "" && explicit != t.StatusReason {
			return false, domain.Errorf(domain.CodeConflict, "tenant %s is already offboarded (since %s, reason %q); nothing changed and the new reason was not recorded",
				t.TenantID, t.StatusChanged.UTC().Format(time.RFC3339), t.StatusReason)
		}
		return t.SetStatus(domain.StatusOffboarded, reason, now)
	})
}

// changeStatus applies a lifecycle change under optimistic concurrency and
// audits it; asking for the current status again succeeds unchanged.
func (a *API) changeStatus(c *call, action string, change func(*domain.Tenant, string, time.Time) (bool, error)) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	reason, err := reasonBody(c.body, true)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "operator request by " + c.principal.Name
	}
	now := a.now().UTC()
	var from domain.Status
	var changed bool
	t, err := domain.UpdateTenant(c.ctx, a.deps.Store, id, func(t *domain.Tenant) (bool, error) {
		from = t.Status
		var err error
		changed, err = change(t, reason, now)
		if changed && err == nil {
			t.UpdatedAt = now
		}
		return changed && err == nil, err
	})
	if err != nil {
		return tenantNotFound(err, id)
	}
	if t.Status == domain.StatusOffboarded {
		if err := a.deps.Store.SetAllowedIPs(c.ctx, t.TenantID, nil); err != nil {
			return err
		}
	}
	a.audit(c, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: action, FromState: from, ToState: t.Status, Reason: reason,
		Details: map[string]string{"changed": boolString(changed)}})
	return a.writeTenant(c, t)
}

func statusNames() string {
	names := make([]string, len(domain.Statuses))
	for i, s := range domain.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
