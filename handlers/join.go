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
		code := r.PathValue("code")
		notFound := func() {
			s.Pages.Render(w, http.StatusNotFound, web.NotFoundPage{Message: "There are no dialing instructions at this address. Check the link in your meeting invitation."})
		}
		if !keyCodePattern.MatchString(code) {
			notFound()
			return
		}
		owner, err := s.Store.TenantKeyOwner(r.Context(), code)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			notFound()
			return
		}
		if err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		t, err := s.Store.GetTenant(r.Context(), owner)
		if domain.ErrorCode(err) == domain.CodeNotFound || (err == nil && t.Status == domain.StatusOffboarded) {
			notFound()
			return
		}
		if err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		region := s.Config.Regions[t.Region]
		page := web.JoinInstructionsPage{ServiceRegionName: region.DisplayName, TenantKey: t.TenantKey, DirectDialDomain: region.DirectDialDomain}
		if raw := r.URL.Query().Get("conf"); raw != "" {
			if id, ok := web.NormalizeConferenceID(raw); ok {
				page.ConferenceID = id
			} else {
				page.RejectedConferenceID = raw
			}
		}
		s.Pages.Render(w, http.StatusOK, page)
	})
}
