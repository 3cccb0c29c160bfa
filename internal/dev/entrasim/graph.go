package entrasim

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

const graphEntityContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// plainHandler serves the plain-http listener: the admin-consent page,
// Graph under /v1.0 and the /sandbox/ control surface. It routes by hand
// because Graph's `servicePrincipals(appId='…')` segments and the
// `/{tenant}/…` consent paths do not fit ServeMux patterns side by side.
func (s *Sandbox) plainHandler() http.Handler {
	control := s.controlHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
			s.serveGraph(w, r)
		case p == "/":
			http.Redirect(w, r, "/sandbox/", http.StatusFound)
		case p == "/sandbox" || strings.HasPrefix(p, "/sandbox/"):
			control.ServeHTTP(w, r)
		default:
			if tenantID, ok := strings.CutSuffix(strings.TrimPrefix(p, "/"), "/v2.0/adminconsent"); ok && tenantID != "" && !strings.Contains(tenantID, "/") {
				s.handleAdminConsent(w, r, tenantID)
				return
			}
			http.NotFound(w, r)
		}
	})
}

func (s *Sandbox) serveGraph(w http.ResponseWriter, r *http.Request) {
	s.graphRequests.Add(1)
	n := s.graphInFlight.Add(1)
	defer s.graphInFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	if strings.EqualFold(r.Header.Get("x-ms-throttle-priority"), "low") {
		s.lowPriority.Add(1)
	}

	claims, authErr := s.authenticateGraph(r)
	var t *tenant
	if authErr == "" {
		t = s.tenantFor(claims.TID, true)
		t.graphRequests.Add(1)
	}
	if f := s.faultsFor(t); f.toGraph() && s.injectGraphFaults(w, r, f) {
		return
	}
	if authErr == "" && s.resolveTenant(claims.TID) == nil {
		authErr = "The tenant for tenant guid '" + claims.TID + "' does not exist."
	}
	if authErr != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+graphAppID+`"`)
		s.writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", authErr)
		return
	}

	segs, ok := graphSegments(r)
	if !ok {
		s.writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request URL.")
		return
	}
	method := func(want string) bool {
		if r.Method == want {
			return true
		}
		s.writeGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
		return false
	}
	switch {
	case len(segs) == 1 && spAppIDKey(segs[0]) != "":
		if method(http.MethodGet) {
			s.handleGetSP(w, r, t, claims, spAppIDKey(segs[0]), "")
		}
	case len(segs) == 2 && strings.EqualFold(segs[0], "servicePrincipals"):
		if method(http.MethodGet) {
			s.handleGetSP(w, r, t, claims, "", segs[1])
		}
	case len(segs) == 3 && strings.EqualFold(segs[0], "servicePrincipals") && strings.EqualFold(segs[2], "appRoleAssignments"):
		if method(http.MethodGet) {
			s.handleAppRoleAssignments(w, r, t, segs[1])
		}
	case len(segs) == 3 && strings.EqualFold(segs[0], "users") && strings.EqualFold(segs[2], "sendMail"):
		if method(http.MethodPost) {
			s.handleSendMail(w, r, claims, segs[1])
		}
	default:
		bad := ""
		if len(segs) > 0 {
			bad = segs[len(segs)-1]
		}
		s.writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+bad+"'.")
	}
}

// graphSegments splits the escaped path after /v1.0 and unescapes each
// segment, so an encoded "/" inside a user ID stays inside its segment.
func graphSegments(r *http.Request) ([]string, bool) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0"), "/")
	if rest == "" {
		return nil, true
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

// spAppIDKey extracts X from `servicePrincipals(appId='X')` ("" if not that form).
func spAppIDKey(seg string) string {
	const prefix = "serviceprincipals("
	if len(seg) <= len(prefix) || !strings.EqualFold(seg[:len(prefix)], prefix) || !strings.HasSuffix(seg, ")") {
		return ""
	}
	key, value, ok := strings.Cut(seg[len(prefix):len(seg)-1], "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(key), "appId") {
		return ""
	}
	value = strings.TrimSpace(value)
	if len(value) < 3 || value[0] != '\'' || value[len(value)-1] != '\'' {
		return ""
	}
	return value[1 : len(value)-1]
}

func (s *Sandbox) authenticateGraph(r *http.Request) (graphClaims, string) {
	var c graphClaims
	h := r.Header.Get("Authorization")
	if h == "" {
		return c, "Access token is empty."
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return c, "Access token is empty."
	}
	token = strings.TrimSpace(token)
	if oc, ok := s.opaqueClaims(token); ok {
		c = oc // an opaque token issued for a Scenario.OpaqueTokens tenant
	} else if err := s.signer.verify(token, &c); err != nil {
		return c, "Access token validation failure. (SANDBOX: " + err.Error() + ".)"
	}
	if c.Aud != graphResource && c.Aud != graphResource+"/" && c.Aud != graphAppID {
		return c, "Access token validation failure. Invalid audience."
	}
	now := time.Now().Unix()
	if c.Exp <= now {
		return c, "Lifetime validation failed, the token is expired."
	}
	if c.Nbf > now+300 {
		return c, "Lifetime validation failed, the token is not yet valid."
	}
	if !domain.IsGUID(c.TID) {
		return c, "Access token validation failure. Invalid tenant."
	}
	return c, ""
}

type servicePrincipalResource struct {
	ODataContext              string   `json:"@odata.context"`
	ID                        string   `json:"id"`
	DeletedDateTime           *string  `json:"deletedDateTime"`
	AccountEnabled            bool     `json:"accountEnabled"`
	AppDisplayName            string   `json:"appDisplayName"`
	AppID                     string   `json:"appId"`
	AppOwnerOrganizationID    string   `json:"appOwnerOrganizationId"`
	DisabledByMicrosoftStatus *string  `json:"disabledByMicrosoftStatus"`
	DisplayName               string   `json:"displayName"`
	ServicePrincipalNames     []string `json:"servicePrincipalNames"`
	ServicePrincipalType      string   `json:"servicePrincipalType"`
	SignInAudience            string   `json:"signInAudience"`
	Tags                      []string `json:"tags"`
}

func (s *Sandbox) handleGetSP(w http.ResponseWriter, r *http.Request, t *tenant, c graphClaims, appID, objectID string) {
	// An app may read its own service principal without permissions; reading
	// another needs Application.Read.All (reference §2).
	if appID != "" && !strings.EqualFold(appID, c.AppID) && !canReadApplications(c.Roles) {
		s.writeGraphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	sp, _, ok := t.spSnapshot(appID, objectID)
	if ok && !strings.EqualFold(sp.appID, c.AppID) && !canReadApplications(c.Roles) {
		s.writeGraphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	if !ok {
		ref := objectID
		if appID != "" {
			ref = "servicePrincipals(appId='" + appID + "')"
		}
		s.writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '"+ref+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	var byMicrosoft *string // null unless set (Graph servicePrincipal resource: null, NotDisabled or DisabledDueToViolationOfServicesAgreement)
	if sp.disabledByMicrosoft != "" {
		byMicrosoft = &sp.disabledByMicrosoft
	}
	s.setGraphHeaders(w, r)
	w.Header().Set("x-ms-resource-unit", "1")
	writeJSON(w, http.StatusOK, graphEntityContentType, servicePrincipalResource{
		DisabledByMicrosoftStatus: byMicrosoft,
		ODataContext:              "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity",
		ID:                        sp.id,
		AccountEnabled:            sp.enabled,
		AppDisplayName:            sp.displayName,
		AppID:                     sp.appID,
		AppOwnerOrganizationID:    s.operatorTenant,
		DisplayName:               sp.displayName,
		ServicePrincipalNames:     []string{sp.appID},
		ServicePrincipalType:      "Application",
		SignInAudience:            "AzureADMultipleOrgs",
		Tags:                      []string{"WindowsAzureActiveDirectoryIntegratedApp"},
	})
}

func canReadApplications(roles []string) bool {
	return hasRole(roles, "Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")
}

type appRoleAssignment struct {
	ID                   string  `json:"id"`
	DeletedDateTime      *string `json:"deletedDateTime"`
	AppRoleID            string  `json:"appRoleId"`
	CreatedDateTime      string  `json:"createdDateTime"`
	PrincipalDisplayName string  `json:"principalDisplayName"`
	PrincipalID          string  `json:"principalId"`
	PrincipalType        string  `json:"principalType"`
	ResourceDisplayName  string  `json:"resourceDisplayName"`
	ResourceID           string  `json:"resourceId"`
}

// handleAppRoleAssignments lists the Graph app roles granted to a service
// principal. Real Graph wants Application.Read.All for other principals; the
// sandbox does not enforce it here so the service can compare both checks.
func (s *Sandbox) handleAppRoleAssignments(w http.ResponseWriter, r *http.Request, t *tenant, objectID string) {
	sp, resourceID, ok := t.spSnapshot("", objectID)
	if !ok {
		s.writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '"+objectID+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	items := make([]appRoleAssignment, 0, len(sp.roles))
	for _, role := range sp.roles {
		roleID := appRoleID(role)
		sum := sha256.Sum256([]byte(sp.id + "/" + roleID))
		items = append(items, appRoleAssignment{
			ID:                   base64.RawURLEncoding.EncodeToString(sum[:]),
			AppRoleID:            roleID,
			CreatedDateTime:      sp.grantedAt.UTC().Format("2006-01-02T15:04:05.0000000Z"),
			PrincipalDisplayName: sp.displayName,
			PrincipalID:          sp.id,
			PrincipalType:        "ServicePrincipal",
			ResourceDisplayName:  "Microsoft Graph",
			ResourceID:           resourceID,
		})
	}
	s.setGraphHeaders(w, r)
	w.Header().Set("x-ms-resource-unit", "2")
	writeJSON(w, http.StatusOK, graphEntityContentType, struct {
		ODataContext string              `json:"@odata.context"`
		Value        []appRoleAssignment `json:"value"`
	}{"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('" + sp.id + "')/appRoleAssignments", items})
}

// setGraphHeaders sets the correlation headers Graph returns on every response.
func (s *Sandbox) setGraphHeaders(w http.ResponseWriter, r *http.Request) (requestID, clientRequestID string) {
	requestID = uuid.NewString()
	clientRequestID = r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	h := w.Header()
	h.Set("request-id", requestID)
	h.Set("client-request-id", clientRequestID)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"SANDBOX","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"sandbox"}}`)
	h.Set("Cache-Control", "no-cache")
	return requestID, clientRequestID
}

type graphErrorBody struct {
	Error graphError `json:"error"`
}

type graphError struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError graphInnerError `json:"innerError"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

func (s *Sandbox) writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	requestID, clientRequestID := s.setGraphHeaders(w, r)
	writeJSON(w, status, "application/json", graphErrorBody{graphError{
		Code:    code,
		Message: message,
		InnerError: graphInnerError{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       requestID,
			ClientRequestID: clientRequestID,
		},
	}})
}
