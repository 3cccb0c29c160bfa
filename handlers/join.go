package handlers

import (
	"io"
	"mime"
	"net/http"
	"regexp"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
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
