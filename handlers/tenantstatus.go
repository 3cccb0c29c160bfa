package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
	"github.com/onemeeting/cvi-onboarding/internal/status"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// trustedDomain is what admins allow in Teams external access (the email
// branding says the same).
const trustedDomain = "videosrv.net"

const statusNotFound = "There is no status page at this address. Use the link in your most recent email from us."

// handleStatus is the TenantStatus function: the customer's checklist
// behind a capability link. No allow-listed IP is needed; the page shows
// only what the emails showed. POST is the "grant consent again" button.
func (s *Server) handleStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Status.Resolve(r.Context(), r.PathValue("token"))
		switch {
		case errors.Is(err, status.ErrNotFound):
			s.Pages.Render(w, http.StatusNotFound, web.NotFoundPage{Message: statusNotFound})
			return
		case err != nil:
			s.serverErrorPage(w, r, err)
			return
		}
		if t.Status == domain.StatusOffboarded {
			s.Pages.Render(w, http.StatusGone, web.StatusInactivePage{})
			return
		}
		page := s.statusPage(t, r.URL.EscapedPath())
		if r.Method == http.MethodPost {
			code := s.consentAgain(r, t, &page)
			if code == http.StatusOK {
				// Show the record as it is now.
				if fresh, err := s.Store.GetTenant(r.Context(), t.TenantID); err == nil {
					notice, isErr := page.Notice, page.NoticeError
					page = s.statusPage(fresh, r.URL.EscapedPath())
					page.Notice, page.NoticeError = notice, isErr
				}
			}
			s.Pages.Render(w, code, page)
			return
		}
		s.Pages.Render(w, http.StatusOK, page)
	})
}

// consentAgain handles the button: same-origin only (the form is ours; the
// capability in the URL is the CSRF secret, Origin is checked as well),
// rate-limited and audited by status.Service.
func (s *Server) consentAgain(r *http.Request, t *domain.Tenant, page *web.StatusPage) int {
	if !sameOrigin(r, s.Config.PublicBaseURL) {
		page.Notice, page.NoticeError = "This request did not come from this page. Nothing was sent.", true
		return http.StatusForbidden
	}
	ip := ""
	if addr, err := ClientIP(r, s.Config.TrustedProxyHops); err == nil {
		ip = addr.String()
	}
	err := s.Status.AskConsentAgain(r.Context(), t.TenantID, ip)
	var limited *status.ErrRateLimited
	switch {
	case err == nil:
		page.Notice = "We have emailed a new consent link to your administrators. Open it from one of your allow-listed IP addresses."
		return http.StatusOK
	case errors.As(err, &limited):
		page.Notice, page.NoticeError = "A consent link was emailed a few minutes ago. Please check your administrators' inboxes; you can ask again after "+web.FormatPageTime(limited.RetryAt)+".", true
		return http.StatusTooManyRequests
	case domain.ErrorCode(err) == domain.CodeConflict:
		page.Notice, page.NoticeError = "Consent does not need to be granted again right now.", true
		return http.StatusConflict
	default:
		s.Logger.Error("consent-again request failed", "tenantId", t.TenantID, "err", err)
		page.Notice, page.NoticeError = "We could not send the email just now. Nothing was changed; please try again in a few minutes.", true
		return http.StatusServiceUnavailable
	}
}

// sameOrigin accepts a POST whose Origin (or, without one, Referer) is
// the public base URL's origin, or one a browser marks same-origin.
func sameOrigin(r *http.Request, base *url.URL) bool {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	u, err := url.Parse(origin)
	if err != nil || base == nil || origin == "" {
		return false
	}
	return u.Scheme == base.Scheme && u.Host == base.Host
}

// statusPage builds the checklist from the tenant record.
func (s *Server) statusPage(t *domain.Tenant, action string) web.StatusPage {
	p := web.StatusPage{
		CustomerName: t.CustomerName, TenantID: t.TenantID, Status: string(t.Status), TenantKey: t.TenantKey,
		RegionName: s.Config.Regions[t.Region].DisplayName, ProvisionedAt: web.FormatPageTime(t.CreatedAt),
		ConsentedAt: web.FormatPageTime(t.ConsentedAt), LastCheckAt: web.FormatPageTime(t.LastCheckAt),
		LiveSince: web.FormatPageTime(t.LiveSince), LastInviteSeen: web.FormatPageTime(t.LastInviteSeen),
		TrustedDomain: trustedDomain, Suspended: t.Status == domain.StatusSuspended, FormAction: action,
		ConsentState: web.StepTodo, LiveState: web.StepTodo,
	}
	if !t.LastCheckAt.IsZero() {
		p.LastCheckBy = "our regular check"
		if t.LastCheckRunID == "" {
			p.LastCheckBy = "our check when you consented"
		}
	}
	for _, role := range t.GrantedRoles {
		p.Permissions = append(p.Permissions, web.StatusPermission{Name: role, Granted: true})
	}
	for _, role := range t.MissingRoles {
		p.Permissions = append(p.Permissions, web.StatusPermission{Name: role})
	}
	switch t.Status {
	case domain.StatusConsented:
		p.ConsentState = web.StepDone
	case domain.StatusDegraded:
		p.ConsentState = web.StepProblem
		p.ProblemText = "Our check found that " + s.serviceName() + " is missing permissions (or is disabled) in your tenant, so some features fail. A Global Administrator needs to grant consent again."
	case domain.StatusRevoked:
		p.ConsentState = web.StepProblem
		p.ProblemText = "Our check found that " + s.serviceName() + " is no longer in your Microsoft 365 tenant, so video systems can no longer join your meetings. A Global Administrator needs to grant consent again."
	}
	p.ConsentAgain = status.CanAskConsentAgain(t)
	if t.Status == domain.StatusConsented || t.Status == domain.StatusDegraded {
		if _, name, err := powershell.ForDownload(t); err == nil {
			p.ScriptURL, p.ScriptFileName = powershell.DownloadURL(s.Config.PublicBaseURL, t), name
		}
	}
	if !t.LiveSince.IsZero() {
		p.LiveState = web.StepDone
	}
	return p
}

func (s *Server) serviceName() string { return s.Pages.Branding().ServiceName }
