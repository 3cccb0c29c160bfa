package handlers

import (
	"errors"
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// handleAdminConsent starts consent: link token (or caller IP) → allow-list
// check → one-time state → 302 to Microsoft's admin-consent endpoint.
func (s *Server) handleAdminConsent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, ok := s.consentClientIP(w, r, "consent start", "Please open the consent link from your email again. If this keeps happening, contact support.")
		if !ok {
			return
		}
		q := r.URL.Query()
		token := q.Get("t")
		if len(token) > 256 {
			token = "invalid"
		}
		var (
			res *consent.StartResult
			err error
		)
		if retry := q.Get("retry"); retry != "" && token == "" {
			res, err = s.Consent.StartAgain(r.Context(), retry, ip)
		} else {
			res, err = s.Consent.Start(r.Context(), token, ip)
		}
		var refusal *consent.Refusal
		switch {
		case errors.As(err, &refusal):
			s.renderRefusal(w, refusal)
			return
		case err != nil:
			s.serverErrorPage(w, r, err)
			return
		}
		web.SetSecurityHeaders(w.Header(), true)
		http.Redirect(w, r, res.RedirectURL, http.StatusFound)
	})
}
