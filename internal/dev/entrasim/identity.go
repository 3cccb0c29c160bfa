package entrasim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

const (
	tokenLifetimeSeconds = 3599
	clientAssertionType  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxFormBytes         = 64 << 10
)

// identityHandler serves the TLS listener: metadata, JWKS and the token endpoint.
func (s *Sandbox) identityHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", withCORS(s.handleOpenIDConfiguration))
	mux.HandleFunc("OPTIONS /{tenant}/v2.0/.well-known/openid-configuration", withCORS(nil))
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	mux.HandleFunc("OPTIONS /{tenant}/oauth2/v2.0/token", withCORS(nil))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", withCORS(s.handleToken))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeAADError(w, r, http.StatusNotFound, "invalid_request", 900561,
			"AADSTS900561: The endpoint only accepts POST, OPTIONS requests. (SANDBOX: unknown identity endpoint "+r.URL.Path+")")
	})
	return mux
}

type openIDConfiguration struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Issuer                            string   `json:"issuer"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	HTTPLogoutSupported               bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ClaimsSupported                   []string `json:"claims_supported"`
	TenantRegionScope                 string   `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
	CloudGraphHostName                string   `json:"cloud_graph_host_name"`
	MSGraphHost                       string   `json:"msgraph_host"`
	RBACURL                           string   `json:"rbac_url"`
}

func (s *Sandbox) handleOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	t := s.resolveTenant(r.PathValue("tenant"))
	if t == nil {
		s.writeTenantNotFound(w, r, r.PathValue("tenant"))
		return
	}
	base := s.authorityHost + t.id
	cfg := openIDConfiguration{
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		JWKSURI:                           base + "/discovery/v2.0/keys",
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		Issuer:                            base + "/v2.0",
		UserinfoEndpoint:                  "https://graph.microsoft.com/oidc/userinfo",
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		DeviceAuthorizationEndpoint:       base + "/oauth2/v2.0/devicecode",
		HTTPLogoutSupported:               true,
		FrontchannelLogoutSupported:       true,
		EndSessionEndpoint:                base + "/oauth2/v2.0/logout",
		ClaimsSupported: []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		TenantRegionScope:  t.regionScope(),
		CloudInstanceName:  "microsoftonline.com",
		CloudGraphHostName: "graph.windows.net",
		MSGraphHost:        "graph.microsoft.com",
		RBACURL:            "https://pas.windows.net",
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", cfg)
}

func (t *tenant) regionScope() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scenario.RegionScope != "" {
		return t.scenario.RegionScope
	}
	return "EU"
}

func (s *Sandbox) handleJWKS(w http.ResponseWriter, r *http.Request) {
	t := s.resolveTenant(r.PathValue("tenant"))
	if t == nil {
		s.writeTenantNotFound(w, r, r.PathValue("tenant"))
		return
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8",
		struct {
			Keys []jwk `json:"keys"`
		}{[]jwk{s.signer.jwk(s.authorityHost + t.id + "/v2.0")}})
}

// graphClaims are the claims of an app-only Microsoft Graph access token
// (v1.0 token format, which Graph tokens use).
type graphClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	AppDisplayName    string   `json:"app_displayname,omitempty"`
	AppID             string   `json:"appid"`
	AppIDACR          string   `json:"appidacr"`
	IDP               string   `json:"idp"`
	IDTyp             string   `json:"idtyp"`
	OID               string   `json:"oid"`
	Roles             []string `json:"roles,omitempty"`
	Sub               string   `json:"sub"`
	TenantRegionScope string   `json:"tenant_region_scope,omitempty"`
	TID               string   `json:"tid"`
	UTI               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

func (s *Sandbox) handleToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	rawTenant := r.PathValue("tenant")
	t := s.resolveTenant(rawTenant)
	if t != nil {
		t.tokenRequests.Add(1)
	}
	f := s.faultsFor(t)
	if f.TokenEndpointDown {
		s.served503.Add(1)
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if f.toToken() && s.injectTokenFaults(w, r, f) {
		return
	}
	if t == nil {
		s.writeTenantNotFound(w, r, rawTenant)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	clientID := form.Get("client_id")
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if clientID == "" && hasBasic {
		clientID, _ = url.QueryUnescape(basicID)
	}
	switch {
	case form.Get("grant_type") == "":
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	case form.Get("grant_type") == "authorization_code" || form.Get("grant_type") == "refresh_token":
		s.handleSPAToken(w, r, t, form)
		return
	case form.Get("grant_type") != "client_credentials":
		s.writeAADError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'. (SANDBOX supports client_credentials only.)", form.Get("grant_type")))
		return
	case clientID == "":
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'client_id'.")
		return
	case form.Get("scope") == "":
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	}
	scope := resourceScope(form.Get("scope"))
	if !strings.HasSuffix(scope, "/.default") || strings.Contains(scope, " ") {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	if resource := strings.TrimSuffix(scope, "/.default"); resource != graphResource && resource != graphAppID && resource != graphResource+"/" {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_resource", 500011,
			fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. (SANDBOX issues Microsoft Graph tokens only.)", resource, t.id))
		return
	}

	app, registered := s.apps[strings.ToLower(clientID)]
	var sp servicePrincipal
	found := false
	if registered {
		sp, _, found = t.spSnapshot(app.AppID, "")
	}
	sc := t.scenarioSnapshot()
	if !found {
		s.writeMissingSP(w, r, t.id, clientID, registered, sc.MissingSPCode)
		return
	}

	acr, ok := s.checkClientCredential(w, r, app, form, hasBasic, basicSecret)
	if !ok {
		return
	}
	if !sp.enabled {
		s.writeAADError(w, r, http.StatusBadRequest, "unauthorized_client", 7000112,
			fmt.Sprintf("AADSTS7000112: Application '%s'(%s) is disabled.", app.AppID, app.DisplayName))
		return
	}

	now := time.Now().Unix()
	region := t.regionScope()
	claims := graphClaims{
		Aud:               graphResource,
		Iss:               "https://sts.windows.net/" + t.id + "/",
		Iat:               now,
		Nbf:               now,
		Exp:               now + tokenLifetimeSeconds,
		AppDisplayName:    app.DisplayName,
		AppID:             app.AppID,
		AppIDACR:          acr,
		IDP:               "https://sts.windows.net/" + t.id + "/",
		IDTyp:             "app",
		OID:               sp.id,
		Roles:             t.tokenRoles(sp, time.Now().UTC()),
		Sub:               sp.id,
		TenantRegionScope: region,
		TID:               t.id,
		UTI:               uuid.NewString()[:22],
		Ver:               "1.0",
	}
	var token string
	var err error
	if sc.OpaqueTokens {
		token, err = s.issueOpaque(claims)
	} else {
		token, err = s.signer.sign(claims)
	}
	if err != nil {
		s.log.Error("sandbox: sign token", "err", err)
		s.writeAADError(w, r, http.StatusInternalServerError, "server_error", 50000, "AADSTS50000: There was an error issuing a token.")
		return
	}
	s.tokensIssued.Add(1)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		ExtExpiresIn int    `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
	}{"Bearer", tokenLifetimeSeconds, tokenLifetimeSeconds, token})
}

// writeMissingSP answers a client-credentials request while our app has no
// service principal in the tenant. An app unknown everywhere is always
// 700016. Entra's answer for a registered app has moved to 7000229, HTTP 401
// invalid_client (Microsoft Learn, Teams app authentication troubleshooting:
// "AADSTS7000229: The client application … is missing service principal in
// the tenant …"); the older 700016 is HTTP 400 unauthorized_client (Entra
// client-credentials error examples).
func (s *Sandbox) writeMissingSP(w http.ResponseWriter, r *http.Request, tenantID, clientID string, registered bool, code int) {
	if registered && code == 7000229 {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000229, fmt.Sprintf(
			"AADSTS7000229: The client application %s is missing service principal in the tenant %s. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
			clientID, tenantID))
		return
	}
	s.writeAADError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
		"AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
		clientID, tenantID))
}

// maxOpaqueTokens bounds the opaque-token table; expired entries go first.
const maxOpaqueTokens = 4096

// issueOpaque returns a random non-JWT access token (no dots, like the
// compact tokens Microsoft issues for some of its services) and remembers
// its claims so Graph can authenticate it.
func (s *Sandbox) issueOpaque(c graphClaims) (string, error) {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("opaque token: %w", err)
	}
	token := "EwB" + base64.RawURLEncoding.EncodeToString(b)
	s.opaqueMu.Lock()
	defer s.opaqueMu.Unlock()
	if s.opaque == nil {
		s.opaque = map[string]graphClaims{}
	}
	if len(s.opaque) >= maxOpaqueTokens {
		now := time.Now().Unix()
		for k, v := range s.opaque {
			if v.Exp <= now {
				delete(s.opaque, k)
			}
		}
		for k := range s.opaque { // still full: drop arbitrary ones
			if len(s.opaque) < maxOpaqueTokens {
				break
			}
			delete(s.opaque, k)
		}
	}
	s.opaque[token] = c
	return token, nil
}

// opaqueClaims returns the claims of an opaque token issued here.
func (s *Sandbox) opaqueClaims(token string) (graphClaims, bool) {
	s.opaqueMu.Lock()
	defer s.opaqueMu.Unlock()
	c, ok := s.opaque[token]
	return c, ok
}

// resourceScope drops the OIDC scopes MSAL always adds (Entra ignores them
// for client credentials) and returns what is left.
func resourceScope(scope string) string {
	kept := make([]string, 0, 1)
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
		default:
			kept = append(kept, sc)
		}
	}
	return strings.Join(kept, " ")
}

// checkClientCredential validates client_secret (post or basic) or a
// client_assertion and returns the appidacr value ("1" secret, "2" assertion).
func (s *Sandbox) checkClientCredential(w http.ResponseWriter, r *http.Request, app App, form url.Values, hasBasic bool, basicSecret string) (string, bool) {
	if assertion := form.Get("client_assertion"); assertion != "" {
		if form.Get("client_assertion_type") != clientAssertionType {
			s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 700024,
				"AADSTS700024: Client assertion type is not valid; expected '"+clientAssertionType+"'.")
			return "", false
		}
		if strings.Count(assertion, ".") != 2 {
			s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 50027,
				"AADSTS50027: JWT token is invalid or malformed.")
			return "", false
		}
		return "2", true
	}
	secret, hasSecret := form.Get("client_secret"), form.Has("client_secret")
	if !hasSecret && hasBasic {
		secret, _ = url.QueryUnescape(basicSecret)
		hasSecret = true
	}
	if !hasSecret {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000216,
			"AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return "", false
	}
	if app.ClientSecret != "" && secret != app.ClientSecret {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
			"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.AppID))
		return "", false
	}
	return "1", true
}

func (s *Sandbox) writeTenantNotFound(w http.ResponseWriter, r *http.Request, tenantID string) {
	s.writeAADError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
		"AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.",
		tenantID))
}

type aadErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// writeAADError writes an Entra token-endpoint error body, with the trace
// suffix Entra appends to error_description.
func (s *Sandbox) writeAADError(w http.ResponseWriter, r *http.Request, status int, errCode string, code int, description string) {
	now := time.Now().UTC()
	traceID := uuid.NewString()
	correlationID := r.Header.Get("client-request-id")
	if !domain.IsGUID(correlationID) {
		correlationID = uuid.NewString()
	}
	ts := now.Format("2006-01-02 15:04:05Z")
	body := aadErrorBody{
		Error: errCode,
		ErrorDescription: fmt.Sprintf("%s Trace ID: %s Correlation ID: %s Timestamp: %s",
			description, traceID, correlationID, now.Format("2006-01-02 15:04:05.0000000Z")),
		ErrorCodes:    []int{code},
		Timestamp:     ts,
		TraceID:       traceID,
		CorrelationID: correlationID,
		ErrorURI:      s.authorityHost + "error?code=" + strconv.Itoa(code),
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("x-ms-request-id", traceID)
	w.Header().Set("client-request-id", correlationID)
	writeJSON(w, status, "application/json; charset=utf-8", body)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are passed here
		http.Error(w, "sandbox: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// OperatorClaims describe an operator (admin API) token. Zero fields get
// defaults; the override fields exist to test rejection paths.
type OperatorClaims struct {
	OID               string // default: random
	Name              string
	PreferredUsername string
	Roles             []string
	Scopes            string // scp, space-separated; omitted when empty
	// ClientAppID is azp (v2) / appid (v1), the client that asked for the
	// token; default the Azure CLI, which operators use (az account get-access-token).
	ClientAppID string
	// Version is the token format, "2.0" or "1.0"; default from
	// Options.AdminAPITokenVersion (2.0). It picks iss, aud and the client
	// claim the way Entra does, so a v1 token can be minted for tests.
	Version string

	Issuer    string    // default Issuer(OperatorTenantID) (v2) or V1Issuer (v1)
	Audience  string    // default AdminAPIClientID (v2) or Options.AdminAPIAudience (v1)
	TenantID  string    // tid, default OperatorTenantID
	IssuedAt  time.Time // default now
	NotBefore time.Time // default IssuedAt
	ExpiresAt time.Time // default IssuedAt + 1h
}

// operatorTokenClaims carry both formats' claims; omitempty drops the other
// format's client claims (v2: azp/azpacr/preferred_username, v1:
// appid/appidacr/unique_name).
type operatorTokenClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	AppID             string   `json:"appid,omitempty"`
	AppIDACR          string   `json:"appidacr,omitempty"`
	Azp               string   `json:"azp,omitempty"`
	AzpACR            string   `json:"azpacr,omitempty"`
	Name              string   `json:"name,omitempty"`
	OID               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Sub               string   `json:"sub"`
	TID               string   `json:"tid"`
	UniqueName        string   `json:"unique_name,omitempty"`
	UTI               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

// azureCLIAppID is the Azure CLI's well-known public client ID.
const azureCLIAppID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// DefaultAdminAPIClientID is the admin API client ID when
// Options.AdminAPIClientID is empty (local.settings.sample.json uses it).
const DefaultAdminAPIClientID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"

// MintOperatorToken signs an RS256 access token for the admin API,
// verifiable with the operator tenant's JWKS, shaped as Entra shapes it
// (Microsoft identity platform, "Access token claims reference"): v2.0 has
// iss https://login.microsoftonline.com/{tid}/v2.0, aud = the API's client
// ID (never the api:// URI), azp/azpacr; v1.0 has iss
// https://sts.windows.net/{tid}/, aud = the App ID URI, appid/appidacr.
func (s *Sandbox) MintOperatorToken(p OperatorClaims) (string, error) {
	version := p.Version
	if version == "" {
		version = "2.0"
		if s.adminTokenVer == 1 {
			version = "1.0"
		}
	}
	if version != "1.0" && version != "2.0" {
		return "", fmt.Errorf("mint operator token: Version %q must be 1.0 or 2.0", p.Version)
	}
	iat := p.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	nbf := p.NotBefore
	if nbf.IsZero() {
		nbf = iat
	}
	exp := p.ExpiresAt
	if exp.IsZero() {
		exp = iat.Add(time.Hour)
	}
	c := operatorTokenClaims{
		Aud: p.Audience, Iss: p.Issuer, Iat: iat.Unix(), Nbf: nbf.Unix(), Exp: exp.Unix(),
		Name: p.Name, OID: p.OID, Roles: p.Roles, Scp: p.Scopes,
		TID: p.TenantID, UTI: uuid.NewString()[:22], Ver: version,
	}
	client := p.ClientAppID
	if client == "" {
		client = azureCLIAppID
	}
	if c.TID == "" {
		c.TID = s.operatorTenant
	}
	// acr "0": the Azure CLI is a public client (no client credential).
	if version == "2.0" {
		c.Azp, c.AzpACR, c.PreferredUsername = client, "0", p.PreferredUsername
		if c.Aud == "" {
			c.Aud = s.adminClientID
		}
		if c.Iss == "" {
			c.Iss = s.Issuer(c.TID)
		}
	} else {
		c.AppID, c.AppIDACR, c.UniqueName = client, "0", p.PreferredUsername
		if c.Aud == "" {
			c.Aud = s.adminAudience
		}
		if c.Iss == "" {
			c.Iss = s.V1Issuer(c.TID)
		}
	}
	if c.OID == "" {
		c.OID = uuid.NewString()
	}
	c.Sub = c.OID
	token, err := s.signer.sign(c)
	if err != nil {
		return "", fmt.Errorf("mint operator token: %w", err)
	}
	return token, nil
}
