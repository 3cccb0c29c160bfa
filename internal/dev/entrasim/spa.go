package entrasim

// Sign-in for the operator console (a single-page app using
// @azure/msal-browser): the authorization code flow with PKCE, on the TLS
// listener because msal-browser refuses an http authority
// (authority_uri_insecure). Shaped after Microsoft identity platform docs
// "OAuth 2.0 authorization code flow" (authorize request/response, token
// redemption, refresh) and "Single-page application: register" (SPA redirect
// URIs: PKCE required, redemption only cross-origin with CORS, refresh
// tokens with a fixed 24 h lifetime).
//
// Two SANDBOX personas stand in for operators signing in: a reader
// (Tenants.Read) and a writer (Tenants.ReadWrite). The page's buttons POST
// the persona; tests may instead add sandbox_persona=reader|writer (and
// sandbox_token_lifetime=<seconds>) to the authorize query.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Persona is a SANDBOX operator who can sign in to the console.
type Persona struct {
	Key               string // "reader" or "writer": the form value and sandbox_persona
	OID               string
	Name              string
	PreferredUsername string
	Roles             []string
}

// Personas are the console's SANDBOX operators.
var Personas = []Persona{
	{Key: "reader", OID: "11111111-1111-4111-8111-111111111111", Name: "SANDBOX operator (reader)",
		PreferredUsername: "reader@sandbox.invalid", Roles: []string{"Tenants.Read"}},
	{Key: "writer", OID: "22222222-2222-4222-8222-222222222222", Name: "SANDBOX operator (writer)",
		PreferredUsername: "writer@sandbox.invalid", Roles: []string{"Tenants.ReadWrite"}},
}

func personaByKey(key string) (Persona, bool) {
	for _, p := range Personas {
		if p.Key == key || strings.EqualFold(p.PreferredUsername, key) {
			return p, true
		}
	}
	return Persona{}, false
}

// ConsoleScope is the admin API's delegated scope the console asks for.
const ConsoleScope = "access_as_user"

const (
	codeLifetime         = 10 * time.Minute // Entra: authorization codes live about 10 minutes
	spaRefreshLifetime   = 24 * time.Hour   // Entra: SPA refresh tokens, fixed 24 h
	sessionCookie        = "sandbox_session"
	maxTokenLifetimeSecs = 86400
)

// spaState holds codes, refresh tokens and browser sessions in memory.
type spaState struct {
	clientID     string
	redirectURIs []string
	lifetime     time.Duration

	mu       sync.Mutex
	codes    map[string]*authCode // code → grant; redeemed ones stay, marked, until expiry
	refresh  map[string]*spaGrant
	sessions map[string]spaSession
}

type spaGrant struct {
	persona  Persona
	tenant   string
	scope    []string // resource scopes (the admin API's)
	lifetime time.Duration
	expires  time.Time
}

type authCode struct {
	spaGrant
	redirectURI string
	challenge   string
	nonce       string
	redeemed    bool
}

type spaSession struct {
	persona  Persona
	lifetime time.Duration
}

func newSPAState(opts Options) *spaState {
	lt := opts.ConsoleTokenLifetime
	if lt <= 0 {
		lt = tokenLifetimeSeconds * time.Second
	}
	return &spaState{
		clientID: strings.ToLower(strings.TrimSpace(opts.ConsoleClientID)), redirectURIs: slices.Clone(opts.ConsoleRedirectURIs),
		lifetime: lt, codes: map[string]*authCode{}, refresh: map[string]*spaGrant{}, sessions: map[string]spaSession{},
	}
}

// ConsoleClientID is the SPA client the sandbox accepts when
// Options.ConsoleClientID is empty (local.settings.sample.json uses it).
const ConsoleClientID = "9c1f4e2a-7b3d-4e5f-8a6b-0c1d2e3f4a5b"

// redirectAllowed: an exact registered URI; with none registered, any
// loopback http(s) URI whose path is /console/ (the console's, on whatever
// port a test stack uses).
func (st *spaState) redirectAllowed(raw string) bool {
	if len(st.redirectURIs) > 0 {
		return slices.Contains(st.redirectURIs, raw)
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname()) &&
		u.Path == "/console/" && u.RawQuery == "" && u.Fragment == ""
}

func isLoopbackHost(h string) bool { return h == "127.0.0.1" || h == "localhost" || h == "::1" }

// loopbackOrigin reports whether an Origin header names a loopback origin.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname()) && u.Path == ""
}

// withCORS answers the SPA's cross-origin calls. Entra sends CORS headers on
// the v2.0 token endpoint for origins of SPA-registered redirect URIs (the
// "Single-page application" platform requires it: "the redirect URI must be
// marked as type spa to enable CORS"), and on the OpenID metadata for any
// origin. Here: loopback origins, echoed.
func withCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); loopbackOrigin(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "client-request-id, x-ms-request-id, x-ms-clitelem")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					h.Set("Access-Control-Allow-Headers", req)
				}
				h.Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authorizeRequest is a validated /authorize query.
type authorizeRequest struct {
	tenant       string
	redirectURI  string
	state, nonce string
	fragment     bool
	challenge    string
	scopes       []string
	prompt       string
	persona      string
	lifetime     time.Duration
	query        url.Values
}

// parseAuthorize validates the query. Errors before the redirect URI is
// known good are shown as a page (Entra never redirects to an unregistered
// URI); later ones go back to the app.
func (s *Sandbox) parseAuthorize(w http.ResponseWriter, r *http.Request) (*authorizeRequest, bool) {
	q := r.URL.Query()
	t := s.resolveTenant(r.PathValue("tenant"))
	if t == nil || t.id != s.operatorTenant {
		s.spaErrorPage(w, http.StatusBadRequest, fmt.Sprintf("AADSTS90002: Tenant '%s' not found. (SANDBOX: console sign-in is served for the operator tenant %s only.)", r.PathValue("tenant"), s.operatorTenant))
		return nil, false
	}
	if cid := strings.ToLower(q.Get("client_id")); cid != s.spa.clientID {
		s.spaErrorPage(w, http.StatusBadRequest, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. (SANDBOX: the console's client ID is %s.)", q.Get("client_id"), t.id, s.spa.clientID))
		return nil, false
	}
	redirect := q.Get("redirect_uri")
	if !s.spa.redirectAllowed(redirect) {
		s.spaErrorPage(w, http.StatusBadRequest, fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, s.spa.clientID))
		return nil, false
	}
	ar := &authorizeRequest{tenant: t.id, redirectURI: redirect, state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), prompt: q.Get("prompt"), persona: q.Get("sandbox_persona"), lifetime: s.spa.lifetime, query: q}
	switch q.Get("response_mode") {
	case "fragment": // what msal-browser sends by default
		ar.fragment = true
	case "", "query": // Entra's default for response_type=code
	default:
		s.redirectError(w, r, ar, "invalid_request", "AADSTS900144: response_mode must be query or fragment. (SANDBOX: form_post is not offered to the console.)")
		return nil, false
	}
	if q.Get("response_type") != "code" {
		s.redirectError(w, r, ar, "unsupported_response_type", "AADSTS700054: response_type '"+q.Get("response_type")+"' is not enabled for the application. (SANDBOX: code only.)")
		return nil, false
	}
	if ar.challenge == "" || q.Get("code_challenge_method") != "S256" {
		s.redirectError(w, r, ar, "invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption. (SANDBOX: code_challenge with code_challenge_method=S256.)")
		return nil, false
	}
	for _, sc := range strings.Fields(q.Get("scope")) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
		default:
			name := sc[strings.LastIndex(sc, "/")+1:]
			if !strings.HasPrefix(sc, strings.TrimSuffix(s.adminAudience, "/")+"/") && !strings.HasPrefix(sc, s.adminClientID+"/") {
				s.redirectError(w, r, ar, "invalid_scope", "AADSTS65005: The application asked for scope '"+sc+"', which the SANDBOX does not serve (only "+s.adminAudience+"/"+ConsoleScope+").")
				return nil, false
			}
			if name != ConsoleScope && name != ".default" {
				s.redirectError(w, r, ar, "invalid_scope", "AADSTS650053: The application asked for scope '"+name+"' that doesn't exist on the resource '"+s.adminAudience+"'.")
				return nil, false
			}
			ar.scopes = append(ar.scopes, strings.TrimSuffix(s.adminAudience, "/")+"/"+ConsoleScope)
		}
	}
	if len(ar.scopes) == 0 {
		ar.scopes = []string{strings.TrimSuffix(s.adminAudience, "/") + "/" + ConsoleScope}
	}
	if v := q.Get("sandbox_token_lifetime"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTokenLifetimeSecs {
			s.redirectError(w, r, ar, "invalid_request", fmt.Sprintf("SANDBOX: sandbox_token_lifetime must be 1 to %d seconds.", maxTokenLifetimeSecs))
			return nil, false
		}
		ar.lifetime = time.Duration(n) * time.Second
	}
	return ar, true
}

func (s *Sandbox) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ar, ok := s.parseAuthorize(w, r)
	if !ok {
		return
	}
	sess, hasSession := s.session(r)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.spaErrorPage(w, http.StatusBadRequest, "SANDBOX: the sign-in form could not be read.")
			return
		}
		ar.persona = r.PostForm.Get("persona")
	}
	if ar.persona == "" && hasSession && (ar.prompt == "" || ar.prompt == "none") {
		s.issueCode(w, r, ar, sess.persona, sess.lifetime)
		return
	}
	if ar.persona == "" && ar.query.Get("login_hint") != "" && ar.prompt == "none" {
		ar.persona = ar.query.Get("login_hint")
	}
	if ar.persona != "" {
		p, ok := personaByKey(ar.persona)
		if !ok {
			s.spaErrorPage(w, http.StatusBadRequest, "SANDBOX: persona "+strconv.Quote(ar.persona)+" is neither reader nor writer.")
			return
		}
		s.issueCode(w, r, ar, p, ar.lifetime)
		return
	}
	if ar.prompt == "none" {
		s.redirectError(w, r, ar, "login_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in.")
		return
	}
	s.personaPage(w, ar)
}

func (s *Sandbox) issueCode(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, p Persona, lifetime time.Duration) {
	code := randomToken()
	sid := randomToken()
	s.spa.mu.Lock()
	now := time.Now()
	for k, c := range s.spa.codes {
		if now.After(c.expires) {
			delete(s.spa.codes, k)
		}
	}
	s.spa.codes[code] = &authCode{spaGrant: spaGrant{persona: p, tenant: ar.tenant, scope: ar.scopes, lifetime: lifetime, expires: now.Add(codeLifetime)},
		redirectURI: ar.redirectURI, challenge: ar.challenge, nonce: ar.nonce}
	s.spa.sessions[sid] = spaSession{persona: p, lifetime: lifetime}
	s.spa.mu.Unlock()
	// SameSite=None: msal-browser's silent renewal may load /authorize in a
	// hidden iframe of the console's (other) site.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	s.log.Info("console sign-in", "persona", p.Key, "tenant", ar.tenant)
	v := url.Values{"code": {code}, "client_info": {clientInfo(p.OID, ar.tenant)}, "session_state": {sid[:16]}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	s.redirectTo(w, r, ar, v)
}

func (s *Sandbox) redirectError(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	s.redirectTo(w, r, ar, v)
}

func (s *Sandbox) redirectTo(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, v url.Values) {
	target := ar.redirectURI
	if ar.fragment {
		target += "#" + v.Encode()
	} else {
		target += "?" + v.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

func (s *Sandbox) session(r *http.Request) (spaSession, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return spaSession{}, false
	}
	s.spa.mu.Lock()
	defer s.spa.mu.Unlock()
	sess, ok := s.spa.sessions[c.Value]
	return sess, ok
}

func clientInfo(oid, tid string) string {
	b, _ := json.Marshal(map[string]string{"uid": oid, "utid": tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

var personaPageTmpl = template.Must(template.New("personas").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SANDBOX sign-in — not Microsoft</title></head>
<body><main>
<h1>SANDBOX sign-in</h1>
<p><strong>This is the local SANDBOX identity simulator, not Microsoft Entra ID.</strong>
Pick who signs in to the OneMeeting CVI operator console.</p>
<form method="post">
<ul>
{{range .}}<li><button type="submit" name="persona" value="{{.Key}}">{{.Name}}</button> — app role {{index .Roles 0}} ({{.PreferredUsername}})</li>
{{end}}</ul>
</form>
</main></body></html>
`))

func (s *Sandbox) personaPage(w http.ResponseWriter, ar *authorizeRequest) {
	u, _ := url.Parse(ar.redirectURI)
	h := w.Header()
	// form-action must also allow the redirect that follows the POST.
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self' "+u.Scheme+"://"+u.Host+"; frame-ancestors 'self' "+u.Scheme+"://"+u.Host+"; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	_ = personaPageTmpl.Execute(w, Personas)
}

var spaErrorTmpl = template.Must(template.New("err").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SANDBOX sign-in error</title></head>
<body><main><h1>SANDBOX sign-in error</h1><p>{{.}}</p></main></body></html>
`))

func (s *Sandbox) spaErrorPage(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = spaErrorTmpl.Execute(w, msg)
}

func (s *Sandbox) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.spa.mu.Lock()
		delete(s.spa.sessions, c.Value)
		s.spa.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	if target := r.URL.Query().Get("post_logout_redirect_uri"); target != "" && s.spa.redirectAllowed(target) {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	s.spaErrorPage(w, http.StatusOK, "You are signed out of the SANDBOX.")
}

// spaTokenResponse is the v2.0 token endpoint's answer to a public client.
type spaTokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// RefreshTokenExpiresIn: Entra sends it for SPA refresh tokens.
	RefreshTokenExpiresIn int    `json:"refresh_token_expires_in"`
	IDToken               string `json:"id_token"`
	ClientInfo            string `json:"client_info"`
}

type idTokenClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	Name              string   `json:"name"`
	Nonce             string   `json:"nonce,omitempty"`
	OID               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username"`
	Roles             []string `json:"roles,omitempty"`
	Sub               string   `json:"sub"`
	TID               string   `json:"tid"`
	Ver               string   `json:"ver"`
}

// handleSPAToken serves grant_type authorization_code and refresh_token for
// the console client. handleToken has parsed the form.
func (s *Sandbox) handleSPAToken(w http.ResponseWriter, r *http.Request, t *tenant, form url.Values) {
	if strings.ToLower(form.Get("client_id")) != s.spa.clientID {
		s.writeAADError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. (SANDBOX: only the console client %s redeems codes.)", form.Get("client_id"), t.id, s.spa.clientID))
		return
	}
	// SPA-platform redirect URIs: Entra redeems only cross-origin requests.
	if r.Header.Get("Origin") == "" {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 9002327,
			"AADSTS9002327: Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
		return
	}
	now := time.Now()
	var g spaGrant
	nonce := ""
	switch form.Get("grant_type") {
	case "authorization_code":
		code := form.Get("code")
		s.spa.mu.Lock()
		c, ok := s.spa.codes[code]
		var problem string
		var aadsts int
		switch {
		case !ok || now.After(c.expires):
			problem, aadsts = "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.", 70008
		case c.redeemed:
			problem, aadsts = "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.", 54005
		case form.Get("redirect_uri") != c.redirectURI:
			problem, aadsts = "AADSTS70000: The request was denied because one or more grants are invalid: redirect_uri does not match the one of the authorization request.", 70000
		case form.Get("code_verifier") == "":
			problem, aadsts = "AADSTS50148: The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.", 50148
		default:
			sum := sha256.Sum256([]byte(form.Get("code_verifier")))
			if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
				problem, aadsts = "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.", 501481
			}
		}
		if ok && problem == "" {
			c.redeemed = true
			g, nonce = c.spaGrant, c.nonce
		} else if ok && aadsts != 54005 && aadsts != 70008 {
			c.redeemed = true // a failed redemption burns the code, as Entra does
		}
		s.spa.mu.Unlock()
		if problem != "" {
			s.writeAADError(w, r, http.StatusBadRequest, "invalid_grant", aadsts, problem)
			return
		}
	case "refresh_token":
		rt := form.Get("refresh_token")
		s.spa.mu.Lock()
		old, ok := s.spa.refresh[rt]
		if ok {
			delete(s.spa.refresh, rt) // rotated: SPA refresh tokens are single-use here
		}
		s.spa.mu.Unlock()
		if !ok || now.After(old.expires) {
			s.writeAADError(w, r, http.StatusBadRequest, "invalid_grant", 700084,
				"AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page.")
			return
		}
		g = *old // the 24 h limit runs from the first sign-in
	}
	if g.tenant != t.id {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_grant", 50020, "AADSTS50020: the grant was issued for another tenant.")
		return
	}
	access, err := s.MintOperatorToken(OperatorClaims{OID: g.persona.OID, Name: g.persona.Name, PreferredUsername: g.persona.PreferredUsername,
		Roles: g.persona.Roles, Scopes: ConsoleScope, ClientAppID: s.spa.clientID, Version: "2.0", IssuedAt: now, ExpiresAt: now.Add(g.lifetime)})
	if err != nil {
		http.Error(w, "sandbox: "+err.Error(), http.StatusInternalServerError)
		return
	}
	id, err := s.signer.sign(idTokenClaims{Aud: s.spa.clientID, Iss: s.Issuer(t.id), Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		Name: g.persona.Name, Nonce: nonce, OID: g.persona.OID, PreferredUsername: g.persona.PreferredUsername, Roles: g.persona.Roles,
		Sub: g.persona.OID, TID: t.id, Ver: "2.0"})
	if err != nil {
		http.Error(w, "sandbox: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if form.Get("grant_type") == "authorization_code" {
		g.expires = now.Add(spaRefreshLifetime)
	}
	rt := randomToken()
	s.spa.mu.Lock()
	for k, old := range s.spa.refresh {
		if now.After(old.expires) {
			delete(s.spa.refresh, k)
		}
	}
	s.spa.refresh[rt] = &g
	s.spa.mu.Unlock()
	s.tokensIssued.Add(1)
	scope := strings.Join(append(slices.Clone(g.scope), "openid", "profile", "offline_access"), " ")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", spaTokenResponse{
		TokenType: "Bearer", Scope: scope, ExpiresIn: int(g.lifetime / time.Second), ExtExpiresIn: int(g.lifetime / time.Second),
		AccessToken: access, RefreshToken: rt, RefreshTokenExpiresIn: int(time.Until(g.expires) / time.Second),
		IDToken: id, ClientInfo: clientInfo(g.persona.OID, t.id),
	})
}
