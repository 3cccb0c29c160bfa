package adminapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
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
	t, err := a.deps.Store.GetTenant(c.ctx, id)
	if err != nil {
		return tenantNotFound(err, id)
	}
	// Checked here too (IssueLink refuses as well) so no orphan link is stored.
	if !t.ConsentLinkUsable() {
		return domain.Errorf(domain.CodeConflict, "tenant %s is %s; consent links are refused", id, t.Status)
	}
	var recipients []string
	if sendEmail {
		// The email worker only sends consent links to tenants that
		// still need consent; say so now rather than queue a no-op.
		if t.Status != domain.StatusProvisioned && t.Status != domain.StatusRevoked {
			return domain.Errorf(domain.CodeConflict, "tenant %s is %s; the consent-link email is only sent to Provisioned or Revoked tenants (ask for the link with email=false)", id, t.Status)
		}
		for _, ct := range t.AdminContacts() {
			recipients = append(recipients, ct.Email)
		}
		if len(recipients) == 0 {
			return domain.Errorf(domain.CodeConflict, "tenant %s has no admin contact to email", id)
		}
	}
	link, err := a.deps.Consent.IssueLink(c.ctx, id, c.actor(), c.principal.Name)
	if err != nil {
		return tenantNotFound(err, id)
	}
	if !sendEmail {
		a.audit(c, domain.AuditEvent{TenantID: id, Action: "consent.link-handed-out",
			Details: map[string]string{"expiresAt": link.ExpiresAt.UTC().Format(time.RFC3339)}})
		return writeJSON(c.w, http.StatusOK, consentLinkView{URL: link.URL, ExpiresAt: link.ExpiresAt})
	}
	// One key per request: a second click is a second email, by intent.
	job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentLink, TenantID: id, Recipients: recipients,
		IdempotencyKey: "consent-link:" + id + ":operator:" + domain.NewID()}
	if err := queue.PublishEmail(c.ctx, a.deps.Publisher, job, time.Time{}); err != nil {
		return err
	}
	a.audit(c, domain.AuditEvent{TenantID: id, Action: "consent.link-emailed",
		Details: map[string]string{"idempotencyKey": job.IdempotencyKey, "recipients": strconv.Itoa(len(recipients))}})
	// The worker mints the emailed link when it sends, so that link
	// expires no earlier than this one.
	return writeJSON(c.w, http.StatusAccepted, consentLinkEmailView{EmailQueued: true, Recipients: recipients, ExpiresAt: link.ExpiresAt})
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
	if _, err := a.deps.Store.GetTenant(c.ctx, id); err != nil {
		return tenantNotFound(err, id)
	}
	out, err := a.deps.Revalidation.CheckTenant(c.ctx, id, revalidation.CheckOptions{Actor: c.actor(), ActorName: c.principal.Name})
	if err != nil {
		return err
	}
	details := map[string]string{"transition": boolString(out.Transition)}
	switch {
	case out.Skipped:
		details["skipped"] = out.SkipReason
	case out.Check != nil:
		details["outcome"] = string(out.Check.Outcome)
	case out.Error != "":
		details["error"] = truncate(out.Error, 300)
	}
	a.audit(c, domain.AuditEvent{TenantID: id, Action: "consent.revalidation-requested", FromState: out.From, ToState: out.To, Details: details})
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
	if _, err := a.deps.Store.GetTenant(c.ctx, id); err != nil {
		return tenantNotFound(err, id)
	}
	page, err := a.deps.Store.ListAudit(c.ctx, id, pg.size, pg.continuation)
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
	page, err := a.deps.Store.ListRejections(c.ctx, pg.size, pg.continuation)
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
	page, err := a.deps.Store.ListRevalidationRuns(c.ctx, pg.size, pg.continuation)
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

func truncate(s string, n int) string { return domain.Truncate(s, n) }
