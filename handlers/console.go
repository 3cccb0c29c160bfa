package handlers

import (
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/console"
)

// handleConsole serves the operator console (function Console, route
// console/{*path}): the embedded SPA build and its /console/config.json.
func (s *Server) handleConsole() http.Handler {
	cfg := console.Config{}
	if c := s.Config; c != nil {
		cfg = console.Config{AuthorityHost: c.AuthorityHost, TenantID: c.OperatorTenantID, ClientID: c.ConsoleClientID,
			APIAudience: c.AdminAPIAudience}
		if c.PublicBaseURL != nil {
			cfg.PublicBaseURL = c.PublicBaseURL.String()
		}
	}
	h, err := console.New(cfg)
	if err != nil {
		s.Logger.Error("console disabled: bad configuration", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the operator console is misconfigured: "+err.Error(), http.StatusServiceUnavailable)
		})
	}
	if !h.Built() {
		s.Logger.Warn("console assets not embedded: /console/ explains how to build them (make console)")
	}
	return h
}
