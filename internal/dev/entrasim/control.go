package entrasim

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
)

const maxControlRows = 500

// controlHandler is the small surface `make run` uses: a status page and an
// operator-token minting endpoint. Loopback callers only; the POST also
// requires JSON and same-origin (CrossOriginProtection) so a web page in the
// developer's browser cannot mint tokens.
func (s *Sandbox) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/{$}", s.handleControlPage)
	mux.HandleFunc("POST /sandbox/operator-token", s.handleOperatorToken)
	protected := http.NewCrossOriginProtection().Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "sandbox control surface is loopback-only", http.StatusForbidden)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

type controlTenantView struct {
	ID      string
	Deleted bool
	SPs     []controlSPView
}

type controlSPView struct {
	AppID   string
	Enabled bool
	Roles   int
}

type controlPage struct {
	Title, AuthorityHost, GraphBaseURL, OperatorTenant, OutboxDir string
	Apps                                                          []App
	MailSent                                                      int64
	Stats                                                         Stats
	TenantCount                                                   int
	Truncated                                                     bool
	Tenants                                                       []controlTenantView
	RecentMail                                                    []SentMail
}

func (s *Sandbox) handleControlPage(w http.ResponseWriter, r *http.Request) {
	page := controlPage{
		Title:          "SANDBOX control",
		AuthorityHost:  s.authorityHost,
		GraphBaseURL:   s.GraphBaseURL(),
		OperatorTenant: s.operatorTenant,
		OutboxDir:      s.outboxDir,
		MailSent:       s.mailSent.Load(),
		Stats:          s.Stats(),
	}
	for _, a := range s.apps {
		page.Apps = append(page.Apps, App{AppID: a.AppID, DisplayName: a.DisplayName})
	}
	slices.SortFunc(page.Apps, func(a, b App) int { return strings.Compare(a.AppID, b.AppID) })
	s.tenants.Range(func(_, v any) bool {
		t := v.(*tenant)
		t.mu.Lock()
		view := controlTenantView{ID: t.id, Deleted: t.deleted}
		for _, sp := range t.sps {
			view.SPs = append(view.SPs, controlSPView{AppID: sp.appID, Enabled: sp.enabled, Roles: len(sp.roles)})
		}
		t.mu.Unlock()
		if view.Deleted || len(view.SPs) > 0 { // tenants only ever probed are noise
			page.TenantCount++
			page.Tenants = append(page.Tenants, view)
		}
		return true
	})
	slices.SortFunc(page.Tenants, func(a, b controlTenantView) int { return strings.Compare(a.ID, b.ID) })
	if len(page.Tenants) > maxControlRows {
		page.Tenants, page.Truncated = page.Tenants[:maxControlRows], true
	}
	mails := s.SentMail()
	for i := len(mails) - 1; i >= 0 && len(page.RecentMail) < 20; i-- {
		page.RecentMail = append(page.RecentMail, mails[i])
	}
	s.securityHeaders(w, "")
	s.render(w, r, http.StatusOK, "control", page)
}

type operatorTokenRequest struct {
	Roles             []string `json:"roles"`
	Name              string   `json:"name"`
	OID               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username"`
	// Version "1.0" mints what Entra issues while the admin API's manifest
	// does not request v2 tokens; default "2.0" (see MintOperatorToken).
	Version string `json:"version"`
}

func (s *Sandbox) handleOperatorToken(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	var req operatorTokenRequest
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Version != "" && req.Version != "1.0" && req.Version != "2.0" {
		http.Error(w, `version must be "1.0" or "2.0"`, http.StatusBadRequest)
		return
	}
	token, err := s.MintOperatorToken(OperatorClaims{
		OID: req.OID, Name: req.Name, PreferredUsername: req.PreferredUsername, Roles: req.Roles, Version: req.Version,
	})
	if err != nil {
		s.log.Error("sandbox: mint operator token", "err", err)
		http.Error(w, "could not mint token", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "application/json", struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}{token, "Bearer", 3600})
}
