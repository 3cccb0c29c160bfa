package adminapi

import (
	"encoding/json"
	"mime"
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
)

// issueConsentLink mints a new consent link (the previous one stops working
// at once). email=false returns the link for the operator to pass on;
// email=true queues the consent-link email to the admin contacts instead and
// never shows the link.
func (a *API) issueConsentLink(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	// No body, or no "email": the default, email=false (the link is returned).
	obj := map[string]json.RawMessage{}
	if c.body != nil {
		if obj, err = decodeObject(c.body); err != nil {
			return err
		}
	}
	errs := unknownFields(obj, "email")
	var sendEmail bool
	if raw, ok := obj["email"]; ok {
		if sendEmail, err = decodeBool("email", raw); err != nil {
			errs = append(errs, asDomainError(err))
		}
	}
	if err := errs.Err(); err != nil {
		return err
	}
	link, err := a.deps.Tenants.IssueConsentLink(c.ctx, id, sendEmail, c.operator())
	if err != nil {
		return err
	}
	if !link.Emailed {
		return writeJSON(c.w, http.StatusOK, consentLinkView{URL: link.URL, ExpiresAt: link.ExpiresAt})
	}
	return writeJSON(c.w, http.StatusAccepted, consentLinkEmailView{EmailQueued: true, Recipients: link.Recipients, ExpiresAt: link.ExpiresAt})
}

// revalidateTenant checks the tenant's consent now and applies the answer
// as the scheduled run would.
func (a *API) revalidateTenant(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	if _, err := reasonBody(c.body, false); err != nil {
		return err
	}
	out, err := a.deps.Tenants.Recheck(c.ctx, id, c.operator())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, viewRevalidation(out))
}

// getPowerShell downloads the customer's Teams CVI set-up script.
func (a *API) getPowerShell(c *call) error {
	t, err := a.loadTenant(c)
	if err != nil {
		return err
	}
	if t.Status == domain.StatusOffboarded {
		return domain.Errorf(domain.CodeConflict, "tenant %s is Offboarded; no set-up script is handed out", t.TenantID)
	}
	script, name, err := powershell.ForTenant(t)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte(script)) // a failed write means the client left
	return nil
}

func (a *API) listEvents(c *call) error {
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	pg, err := pageOnly(c)
	if err != nil {
		return err
	}
	page, err := a.deps.Tenants.Events(c.ctx, id, pg.size, pg.continuation)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, viewPage(page, viewAudit))
}

func (a *API) listRejections(c *call) error {
	pg, err := pageOnly(c)
	if err != nil {
		return err
	}
	page, err := a.deps.Operations.Rejections(c.ctx, pg.size, pg.continuation)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, viewPage(page, viewRejection))
}

func (a *API) listRevalidationRuns(c *call) error {
	pg, err := pageOnly(c)
	if err != nil {
		return err
	}
	page, err := a.deps.Operations.RevalidationRuns(c.ctx, pg.size, pg.continuation)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, viewPage(page, viewRun))
}

// pageOnly reads the query of a listing that takes nothing but paging.
func pageOnly(c *call) (paging, error) {
	q, err := query(c, "pageSize", "continuation")
	if err != nil {
		return paging{}, err
	}
	var errs domain.Errors
	pg := pagingParams(q, &errs)
	return pg, errs.Err()
}
