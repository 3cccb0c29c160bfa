package handlers

import "net/http"

// handleAdminAPI is the AdminApi function (route api/admin/{*path}): the
// operator API in internal/adminapi, wired in internal/app. ServeHTTP hands
// it every path under /api/admin before the mux, so it answers all of them
// in problem+json.
func (s *Server) handleAdminAPI() http.Handler { return s.Admin }
