package handlers

import (
	"io"
	"mime"
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// handleScriptDownload serves a tenant's PowerShell as a .ps1 download: the
// primary way to get it, because Outlook blocks .ps1 attachments
// (identity-graph.md §4). The confirmation email links here. The caller must
// present the tenant ID that owns the key code, and the script leaves out
// the customer name (powershell.ForDownload), so the link shows nothing
// beyond what the caller knew and the join page's dialing facts. Every
// mismatch is the same 404, so it is no oracle for tenant IDs.
func (s *Server) handleScriptDownload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const missing = "There is no script at this address. Use the download link in your confirmation email."
		t, ok := s.joinTenant(w, r, missing)
		if !ok {
			return
		}
		tid, err := domain.NormalizeTenantID("tenant", r.URL.Query().Get("tenant"))
		if err != nil || tid != t.TenantID || (t.Status != domain.StatusConsented && t.Status != domain.StatusDegraded) {
			s.Pages.Render(w, http.StatusNotFound, web.NotFoundPage{Message: missing})
			return
		}
		script, name, err := powershell.ForDownload(t)
		if err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		h := w.Header()
		// text/plain: browsers save it rather than run anything, and it
		// opens in any editor. The file name is [a-z0-9-] only (FileName).
		h.Set("Content-Type", "text/plain; charset=us-ascii")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, script)
		s.Logger.Info("powershell script downloaded", "tenantId", t.TenantID, "keyCode", t.TenantKeyCode)
	})
}
