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
// tenant stops working at once (the status service audits it).
func (a *API) rotateStatusLink(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	if _, err := reasonBody(c.body, false); err != nil {
		return err
	}
	u, issuedAt, err := a.deps.Tenants.RotateStatusLink(c.ctx, id, c.operator())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, statusLinkView{URL: u, IssuedAt: issuedAt})
}

// viewTenant is the tenant view with what needs the clock and settings.
func (a *API) viewTenant(t *domain.Tenant) tenantView {
	v := viewTenant(t)
	v.NotLiveAfterConsent = revalidation.NotLiveAfterConsent(t, a.deps.LiveReminderAfter, a.now().UTC())
	return v
}
