package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/tenants"
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
		a.deps.Tenants.ProvisioningReplayed(c.ctx, t.TenantID, req.RequestID, c.operator())
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
	return a.deps.Tenants.Get(c.ctx, id)
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
	cond := tenants.Precondition{ETags: tags}
	if slices.Equal(tags, []string{anyETag}) {
		cond = tenants.Precondition{Any: true}
	}
	t, err := a.deps.Tenants.Patch(c.ctx, id, cond, patch, c.operator())
	if errors.Is(err, tenants.ErrNoCurrentTenant) {
		return httpError{status: http.StatusPreconditionFailed, kind: "precondition-failed", title: "Precondition failed", detail: clientDetail(err)}
	}
	if err != nil {
		return err
	}
	return a.writeTenant(c, t)
}

func (a *API) suspendTenant(c *call) error {
	return a.changeStatus(c, a.deps.Tenants.Suspend)
}

func (a *API) resumeTenant(c *call) error {
	return a.changeStatus(c, a.deps.Tenants.Resume)
}

// offboardTenant is a soft delete (tenants.Service.Offboard).
//
// DELETE is idempotent (RFC 9110 §9.2.2): repeating it, without a reason or
// with the recorded one, answers 200 with the unchanged tenant. A second
// offboarding with another reason is 409.
func (a *API) offboardTenant(c *call) error {
	// A bad body is reported before a bad path here, as it always was.
	if _, err := reasonBody(c.body, true); err != nil {
		return err
	}
	return a.changeStatus(c, a.deps.Tenants.Offboard)
}

// changeStatus decodes a lifecycle call (the path's tenant, an optional
// reason) and answers with the tenant after the change.
func (a *API) changeStatus(c *call, change func(ctx context.Context, id, reason string, actor domain.Actor) (*domain.Tenant, error)) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	reason, err := reasonBody(c.body, true)
	if err != nil {
		return err
	}
	t, err := change(c.ctx, id, reason, c.operator())
	if err != nil {
		return err
	}
	return a.writeTenant(c, t)
}

func statusNames() string {
	names := make([]string, len(domain.Statuses))
	for i, s := range domain.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
