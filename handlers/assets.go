package handlers

import "net/http"

// handleAssets is the Assets function (route api/assets/{name}): the pages'
// embedded static files (internal/web).
func (s *Server) handleAssets() http.Handler { return s.Pages.AssetHandler() }
