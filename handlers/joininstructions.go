package handlers

import (
	"net/http"
	"regexp"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

var keyCodePattern = regexp.MustCompile(`^[0-9]{6,12}$`)

// handleJoin is the InstructionUri page Teams links from meeting invites:
// dialing facts only, never customer data.
func (s *Server) handleJoin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := s.joinTenant(w, r, "There are no dialing instructions at this address. Check the link in your meeting invitation.")
		if !ok {
			return
		}
		region := s.Config.Regions[t.Region]
		page := web.JoinInstructionsPage{ServiceRegionName: region.DisplayName, TenantKey: t.TenantKey, DirectDialDomain: region.DirectDialDomain}
		// Teams puts the meeting's Video ID in place of {ConfId} (the
		// tenant's InstructionUri); links of tenants stored before the
		// placeholder, or typed by hand, have no conf at all.
		switch raw := r.URL.Query().Get(domain.ConfQueryParam); {
		case raw == "":
		case web.IsConfIDPlaceholder(raw):
			page.Placeholder = true
		default:
			// The raw value is never shown or logged: only a valid ID is.
			page.VideoID, _ = web.NormalizeVideoID(raw)
			page.InvalidVideoID = page.VideoID == ""
		}
		s.Pages.Render(w, http.StatusOK, page)
		// A real Video ID proves the invite carried the InstructionUri,
		// so the CVI policy is live. Seen never blocks or writes itself.
		if page.VideoID != "" && s.Live != nil {
			s.Live.Seen(t)
		}
	})
}

// joinTenant finds the tenant of the key code in the path; on false it has
// answered (404 with notFoundMsg, or an error page).
func (s *Server) joinTenant(w http.ResponseWriter, r *http.Request, notFoundMsg string) (*domain.Tenant, bool) {
	code := r.PathValue("code")
	notFound := func() {
		s.Pages.Render(w, http.StatusNotFound, web.NotFoundPage{Message: notFoundMsg})
	}
	if !keyCodePattern.MatchString(code) {
		notFound()
		return nil, false
	}
	owner, err := s.Store.TenantKeyOwner(r.Context(), code)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		notFound()
		return nil, false
	}
	if err != nil {
		s.serverErrorPage(w, r, err)
		return nil, false
	}
	t, err := s.Store.GetTenant(r.Context(), owner)
	if domain.ErrorCode(err) == domain.CodeNotFound || (err == nil && t.Status == domain.StatusOffboarded) {
		notFound()
		return nil, false
	}
	if err != nil {
		s.serverErrorPage(w, r, err)
		return nil, false
	}
	return t, true
}
