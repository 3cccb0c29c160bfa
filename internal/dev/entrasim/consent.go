package entrasim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// pageCSS is inlined and allowed by its hash, so the pages need no other
// source and no JavaScript.
const pageCSS = `body{font-family:"Segoe UI",system-ui,sans-serif;margin:0;background:#f2f2f2;color:#1b1b1b;line-height:1.5}
.sandbox-banner{background:#b00020;color:#fff;font-weight:700;font-size:1.25rem;text-align:center;padding:.75rem 1rem;border-bottom:4px solid #ffd400}
main{max-width:40rem;margin:2rem auto;background:#fff;padding:2rem;border:1px solid #ccc}
h1{font-size:1.5rem;margin-top:0}
dt{font-weight:600}dd{margin:0 0 .5rem 0;word-break:break-all}
ul.perms li{margin:.25rem 0}
.perm-type{color:#444;font-size:.9rem}
.error{border-left:6px solid #b00020;padding:.5rem 1rem;background:#fdecee}
.actions{display:flex;gap:1rem;margin-top:1.5rem}
button{font:inherit;padding:.5rem 1.5rem;border:2px solid #0067b8;cursor:pointer}
button:focus{outline:3px solid #ffd400;outline-offset:2px}
#accept{background:#0067b8;color:#fff}
#cancel{background:#fff;color:#0067b8}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}
code{word-break:break-all}`

const bannerText = "SANDBOX — simulated Microsoft sign-in, not Microsoft"

const pagesTemplate = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title><style>` + pageCSS + `</style></head>
<body><div class="sandbox-banner" role="banner">` + bannerText + `</div>{{end}}

{{define "consent"}}{{template "head" .}}
<main aria-labelledby="title">
<h1 id="title">Permissions requested</h1>
<p><strong>{{.AppName}}</strong> wants to access resources in your organization (tenant <code>{{.Tenant}}</code>).
Only an administrator can accept. Accepting grants these permissions for all users of the organization.</p>
<dl>
<dt>Application</dt><dd>{{.AppName}}</dd>
<dt>Application (client) ID</dt><dd><code>{{.ClientID}}</code></dd>
<dt>Tenant</dt><dd><code>{{.Tenant}}</code></dd>
<dt>After you answer you will be sent to</dt><dd><code>{{.RedirectURI}}</code></dd>
</dl>
<h2>This app would like to:</h2>
<ul class="perms">
{{range .Permissions}}<li><strong>{{.Description}}</strong> <span class="perm-type">({{.Name}}, {{.Kind}} permission)</span></li>
{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">
<div class="actions">
<button type="submit" id="accept" name="action" value="accept">Accept</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel</button>
</div>
</form>
</main></body></html>{{end}}

{{define "error"}}{{template "head" .}}
<main aria-labelledby="title">
<h1 id="title">Sign in</h1>
<p>Sorry, but we’re having trouble signing you in.</p>
<p class="error" role="alert">{{.Message}}</p>
<h2>Troubleshooting details</h2>
<dl>
<dt>Request Id</dt><dd><code>{{.RequestID}}</code></dd>
<dt>Correlation Id</dt><dd><code>{{.CorrelationID}}</code></dd>
<dt>Timestamp</dt><dd>{{.Timestamp}}</dd>
</dl>
</main></body></html>{{end}}

{{define "control"}}{{template "head" .}}
<main aria-labelledby="title">
<h1 id="title">Sandbox identity platform and Graph</h1>
<dl>
<dt>Authority host (azidentity, TLS)</dt><dd><code>{{.AuthorityHost}}</code></dd>
<dt>Graph base URL</dt><dd><code>{{.GraphBaseURL}}</code></dd>
<dt>Operator tenant</dt><dd><code>{{.OperatorTenant}}</code></dd>
<dt>Apps</dt><dd>{{range .Apps}}<code>{{.AppID}}</code> {{.DisplayName}}<br>{{end}}</dd>
<dt>Mails sent</dt><dd>{{.MailSent}}{{if .OutboxDir}} (outbox <code>{{.OutboxDir}}</code>){{end}}</dd>
<dt>Requests</dt><dd>token {{.Stats.TokenRequests}}, Graph {{.Stats.GraphRequests}} (low priority {{.Stats.LowPriorityGraphRequests}}), 429 served {{.Stats.Served429}}</dd>
</dl>
<h2>Tenants ({{.TenantCount}}{{if .Truncated}}, first {{len .Tenants}} shown{{end}})</h2>
<table><thead><tr><th scope="col">Tenant</th><th scope="col">State</th><th scope="col">Service principals (app: enabled, roles)</th></tr></thead><tbody>
{{range .Tenants}}<tr><td><code>{{.ID}}</code></td><td>{{if .Deleted}}deleted{{else}}active{{end}}</td><td>{{range .SPs}}<code>{{.AppID}}</code>: {{if .Enabled}}enabled{{else}}disabled{{end}}, {{.Roles}} roles<br>{{else}}none{{end}}</td></tr>
{{end}}</tbody></table>
<h2>Recent mail</h2>
<ul>{{range .RecentMail}}<li>#{{.Seq}} {{.At.Format "15:04:05"}} to {{range .To}}{{.}} {{end}}— {{.Subject}}</li>{{else}}<li>none</li>{{end}}</ul>
</main></body></html>{{end}}`

func parsePages() (*template.Template, string, error) {
	t, err := template.New("pages").Parse(pagesTemplate)
	if err != nil {
		return nil, "", fmt.Errorf("sandbox: parse pages: %w", err)
	}
	sum := sha256.Sum256([]byte(pageCSS))
	return t, "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", nil
}

type consentPage struct {
	Title, AppName, ClientID, Tenant, RedirectURI, Scope, State, Action string
	Permissions                                                         []permissionView
}

type permissionView struct{ Name, Kind, Description string }

type errorPage struct {
	Title, Message, RequestID, CorrelationID, Timestamp string
}

// consentRequest is a validated admin-consent request.
type consentRequest struct {
	tenant      *tenant
	app         App
	scope       string
	redirectURI string
	state       string
}

func (s *Sandbox) handleAdminConsent(w http.ResponseWriter, r *http.Request, tenantID string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderConsentError(w, r, "AADSTS900144: The request body could not be read.")
		return
	}
	req, problem := s.validateConsent(tenantID, r.Form)
	if problem != "" {
		s.renderConsentError(w, r, problem)
		return
	}
	if r.Method == http.MethodGet {
		s.renderConsentPage(w, r, req)
		return
	}
	switch r.PostForm.Get("action") {
	case "accept":
		if _, err := s.grantConsent(req.tenant.id, req.app.AppID); err != nil {
			s.renderConsentError(w, r, "AADSTS90002: Tenant '"+req.tenant.id+"' not found.")
			return
		}
		s.redirectAfterConsent(w, r, req, encodeQuery(
			"admin_consent", "True", "tenant", req.tenant.id, "scope", req.scope, "state", req.state))
	case "cancel":
		// Entra's redirect after Cancel carries error, error_description
		// and state, and no admin_consent (reference identity-graph.md §1;
		// [AC2] v2-admin-consent.md, "Unsuccessful response").
		s.log.Info("sandbox: admin consent cancelled", "tenant", req.tenant.id, "app", req.app.AppID)
		s.redirectAfterConsent(w, r, req, encodeQuery(
			"error", "access_denied",
			"error_description", "AADSTS65004: User declined to consent to access the app.", "state", req.state))
	default:
		s.renderConsentError(w, r, "AADSTS90014: The required field 'action' is missing (press Accept or Cancel).")
	}
}

// validateConsent checks the request like Microsoft does and returns the
// AADSTS message for an error page ("" when valid).
func (s *Sandbox) validateConsent(tenantID string, q url.Values) (consentRequest, string) {
	var req consentRequest
	for _, field := range []string{"client_id", "scope", "redirect_uri"} {
		if strings.TrimSpace(q.Get(field)) == "" {
			return req, fmt.Sprintf("AADSTS90014: The required field '%s' is missing from the credential. Ensure that you have all the necessary parameters for the login request.", field)
		}
	}
	req.tenant = s.resolveTenant(tenantID)
	if req.tenant == nil {
		if strings.EqualFold(tenantID, "common") || strings.EqualFold(tenantID, "organizations") {
			return req, "AADSTS90002: Tenant '" + tenantID + "' not found. (SANDBOX: use the customer's tenant ID in the admin-consent URL.)"
		}
		return req, "AADSTS90002: Tenant '" + tenantID + "' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
	}
	clientID := q.Get("client_id")
	app, ok := s.apps[strings.ToLower(clientID)]
	if !ok {
		return req, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, req.tenant.id)
	}
	req.app = app
	req.scope = q.Get("scope")
	if !validConsentScope(req.scope) {
		return req, fmt.Sprintf("AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. (SANDBOX expects %s.)", req.scope, graphDefaultScope)
	}
	req.redirectURI = q.Get("redirect_uri")
	if !s.redirectAllowed(req.redirectURI) {
		return req, fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.", req.redirectURI, app.AppID)
	}
	req.state = q.Get("state")
	return req, ""
}

func validConsentScope(scope string) bool {
	for _, sc := range strings.Fields(scope) {
		if sc == graphDefaultScope || sc == graphAppID+"/.default" {
			return true
		}
	}
	return false
}

func (s *Sandbox) redirectAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil || u.Host == "" {
		return false
	}
	if len(s.redirectPrefixes) > 0 {
		for _, p := range s.redirectPrefixes {
			if strings.HasPrefix(raw, p) {
				return true
			}
		}
		return false
	}
	host := u.Hostname()
	return u.Scheme == "http" && (host == "127.0.0.1" || host == "localhost")
}

// securityHeaders are set on every sandbox page. form-action must allow the
// redirect target too: browsers apply it to redirects after a form POST.
func (s *Sandbox) securityHeaders(w http.ResponseWriter, formTargets string) {
	h := w.Header()
	csp := "default-src 'none'; style-src " + s.consentCSP + "; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	if formTargets != "" {
		csp += " " + formTargets
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (s *Sandbox) renderConsentPage(w http.ResponseWriter, r *http.Request, req consentRequest) {
	perms := make([]permissionView, 0, len(permissions))
	for _, p := range permissions {
		if p.required {
			perms = append(perms, permissionView{Name: p.name, Kind: p.kind, Description: p.description})
		}
	}
	target, _ := url.Parse(req.redirectURI) // validated already
	s.securityHeaders(w, target.Scheme+"://"+target.Host)
	s.render(w, r, http.StatusOK, "consent", consentPage{
		Title:       "Permissions requested — SANDBOX",
		AppName:     req.app.DisplayName,
		ClientID:    req.app.AppID,
		Tenant:      req.tenant.id,
		RedirectURI: req.redirectURI,
		Scope:       req.scope,
		State:       req.state,
		Action:      r.URL.Path,
		Permissions: perms,
	})
}

func (s *Sandbox) renderConsentError(w http.ResponseWriter, r *http.Request, message string) {
	now := time.Now().UTC()
	s.log.Info("sandbox: admin-consent request refused", "reason", message)
	s.securityHeaders(w, "")
	s.render(w, r, http.StatusBadRequest, "error", errorPage{
		Title:         "Sign in — SANDBOX error",
		Message:       message,
		RequestID:     uuid.NewString(),
		CorrelationID: uuid.NewString(),
		Timestamp:     now.Format("2006-01-02T15:04:05Z"),
	})
}

func (s *Sandbox) redirectAfterConsent(w http.ResponseWriter, r *http.Request, req consentRequest, query string) {
	sep := "?"
	if strings.Contains(req.redirectURI, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, req.redirectURI+sep+query, http.StatusFound)
}

func (s *Sandbox) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("sandbox: render page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "sandbox: page rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
