package handlers

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// consentClientIP is the caller's address on a consent page (start or
// callback, both of which check it against the allow-list). Without a usable
// one it logs that step, answers 400 telling the admin how to start again,
// and reports false.
func (s *Server) consentClientIP(w http.ResponseWriter, r *http.Request, step, startAgain string) (netip.Addr, bool) {
	ip, err := ClientIP(r, s.Config.TrustedProxyHops)
	if err != nil {
		s.Logger.Warn(step+" without a usable client address", "err", err)
		s.Pages.Render(w, http.StatusBadRequest, web.ConsentErrorPage{Heading: "We could not tell where your request came from", Message: startAgain})
		return netip.Addr{}, false
	}
	return ip, true
}

// renderRefusal shows a refused start or callback: 410 for an offboarded
// tenant (the service has ended), 403 otherwise.
func (s *Server) renderRefusal(w http.ResponseWriter, r *consent.Refusal) {
	status := http.StatusForbidden
	if r.Kind == consent.RefusedTenantInactive && r.Tenant != nil && r.Tenant.Status == domain.StatusOffboarded {
		status = http.StatusGone
	}
	s.Pages.Render(w, status, refusalPage(r))
}

func refusalPage(r *consent.Refusal) web.ConsentRefusedPage {
	seen := r.SeenIP.String()
	var p web.ConsentRefusedPage
	switch r.Kind {
	case consent.RefusedIPNotAllowed:
		p = web.RefusalIPNotAllowed(seen, "")
	case consent.RefusedLinkExpired:
		p = web.RefusalLinkExpired(seen)
	case consent.RefusedLinkSuperseded:
		p = web.RefusalLinkReplaced(seen)
	case consent.RefusedTenantInactive:
		if r.Tenant != nil && r.Tenant.Status == domain.StatusOffboarded {
			p = web.RefusalTenantOffboarded(seen)
		} else {
			p = web.RefusalTenantSuspended(seen)
		}
	default:
		p = web.RefusalNoLink(seen)
	}
	if r.Stage == consent.StageCallback {
		p.Reason += " Your answer on Microsoft's page was not recorded here, and nothing was set up."
	}
	return p
}

// handleConsentCallback finishes consent: state consumed once, Microsoft's
// error explained, or consent verified through Graph and the PowerShell
// shown. A reload shows the recorded result again.
func (s *Server) handleConsentCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, ok := s.consentClientIP(w, r, "consent callback", "Please start again from the consent link in your email.")
		if !ok {
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			q = r.URL.Query()
		}
		res, err := s.Consent.Callback(r.Context(), q, ip)
		var invalid *consent.InvalidCallback
		var refusal *consent.Refusal
		switch {
		case errors.As(err, &invalid):
			s.Pages.Render(w, http.StatusBadRequest, web.ConsentErrorPage{Heading: "This sign-in response can't be used",
				Message: invalid.Reason + ". Nothing was changed.", RetryURL: invalid.Retry.URL, LinkExpired: invalid.Retry.LinkExpired})
			return
		case errors.As(err, &refusal):
			s.renderRefusal(w, refusal)
			return
		case err != nil:
			s.serverErrorPage(w, r, err)
			return
		}
		t := res.Tenant
		statusURL := s.statusLink(r, t)
		switch res.Kind {
		case consent.CallbackDeclined:
			s.Pages.Render(w, http.StatusOK, web.ConsentDeclinedPage{CustomerName: t.CustomerName, ErrorCode: res.ErrorCode,
				ErrorDescription: res.ErrorDescription, Explanation: web.ExplainConsentError(res.ErrorCode, res.ErrorDescription),
				RetryURL: res.Retry.URL, LinkExpired: res.Retry.LinkExpired, StatusURL: statusURL})
		case consent.CallbackDegraded:
			s.Pages.Render(w, http.StatusOK, web.ConsentDegradedPage{CustomerName: t.CustomerName, Disabled: res.Disabled, MissingPermissions: res.MissingRoles,
				GrantedPermissions: res.GrantedRoles, RetryURL: res.Retry.URL, LinkExpired: res.Retry.LinkExpired, SupportEmail: s.Config.SupportEmail,
				StatusURL: statusURL})
		case consent.CallbackPending:
			s.Pages.Render(w, http.StatusAccepted, web.ConsentPendingPage{CustomerName: t.CustomerName, SupportEmail: s.Config.SupportEmail})
		default:
			script, name, err := powershell.ForTenant(t)
			if err != nil {
				s.serverErrorPage(w, r, err)
				return
			}
			s.Pages.Render(w, http.StatusOK, web.ConsentGrantedPage{CustomerName: t.CustomerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
				InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI), AppID: t.AppID, Script: script, ScriptFileName: name,
				RegionName: s.Config.Regions[t.Region].DisplayName, SupportEmail: s.Config.SupportEmail, StatusURL: statusURL})
		}
	})
}

// statusLink is the tenant's status page for the consent outcome pages, in
// place of a dead-end "try again": only for a tenant that already has one
// (its emails carry it), and "" if minting fails (the page still works).
func (s *Server) statusLink(r *http.Request, t *domain.Tenant) string {
	if s.Status == nil || t == nil || t.StatusLinkGeneration == 0 {
		return ""
	}
	u, err := s.Status.Link(r.Context(), t.TenantID)
	if err != nil {
		s.Logger.Warn("could not mint a status link for the consent page", "tenantId", t.TenantID, "err", err)
		return ""
	}
	return u
}

// serverErrorPage shows a page for an unexpected or transient failure; the
// detail goes to the log only.
func (s *Server) serverErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. Nothing was changed; please try again in a few minutes."
	if domain.IsTransient(err) {
		status = http.StatusServiceUnavailable
		msg = "The service is briefly unavailable. Nothing was changed; please try again in a few minutes."
	}
	id := r.Header.Get("X-Azure-Functions-InvocationId")
	s.Logger.Error("page request failed", "path", r.URL.Path, "invocationId", id, "err", err)
	s.Pages.Render(w, status, web.ErrorPage{Status: status, Message: msg, RequestID: id})
}
