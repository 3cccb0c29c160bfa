package adminapi

import (
	"net/http"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

type statusLinkView struct {
	URL      string    `json:"url"`
	IssuedAt time.Time `json:"issuedAt"`
}

// rotateStatusLink issues a new status-page link; every older link of the
// tenant stops working at once (status.Service.Rotate audits it).
func (a *API) rotateStatusLink(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	if _, err := reasonBody(c.body, false); err != nil {
		return err
	}
	if a.deps.Status == nil {
		return domain.Errorf(domain.CodeUnavailable, "status links are not configured")
	}
	if _, err := a.deps.Store.GetTenant(c.ctx, id); err != nil {
		return tenantNotFound(err, id)
	}
	u, err := a.deps.Status.Rotate(c.ctx, id, c.actor(), c.principal.Name)
	if err != nil {
		return tenantNotFound(err, id)
	}
	t, err := a.deps.Store.GetTenant(c.ctx, id)
	if err != nil {
		return tenantNotFound(err, id)
	}
	return writeJSON(c.w, http.StatusOK, statusLinkView{URL: u, IssuedAt: t.StatusLinkIssuedAt})
}

// viewTenant is the tenant view with what needs the clock and settings.
func (a *API) viewTenant(t *domain.Tenant) tenantView {
	v := viewTenant(t)
	v.NotLiveAfterConsent = revalidation.NotLiveAfterConsent(t, a.deps.LiveReminderAfter, a.now().UTC())
	return v
}
