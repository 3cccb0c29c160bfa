package entrasim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	stduritemplate "github.com/std-uritemplate/std-uritemplate/go/v2"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// Real permission IDs from reference identity-graph.md §3.
var wantRoleIDs = map[string]string{
	"User.Read.All":                  "df021288-bdef-4463-88db-98f22de89214",
	"Calls.Initiate.All":             "284383ee-7f6e-4e40-a2a8-e85dcb029101",
	"Calls.InitiateGroupCall.All":    "4c277553-8a09-487b-8023-29ee378d8324",
	"Calls.JoinGroupCall.All":        "f6b49018-60ab-4f81-83bd-22caeabfed2d",
	"Calls.JoinGroupCallAsGuest.All": "fd7ccf6b-3d28-418b-9701-cd10f5cd2fd4",
	"Calls.AccessMedia.All":          "a7a681dc-756e-4909-b988-f160edc6655f",
	"OnlineMeetings.Read.All":        "c1684f21-1984-47fa-9d61-2dc8c296bb70",
	"OnlineMeetings.ReadWrite.All":   "b8bb2037-6e08-44ac-a4ea-4674e010e2a4",
}

func TestRequiredRoles(t *testing.T) {
	t.Parallel()
	got := entrasim.RequiredRoles()
	if len(got) != 8 {
		t.Fatalf("RequiredRoles = %v", got)
	}
	for _, r := range got {
		if _, ok := wantRoleIDs[r]; !ok {
			t.Errorf("unexpected required role %s", r)
		}
	}
}

type spBody struct {
	ODataContext           string `json:"@odata.context"`
	ID                     string `json:"id"`
	AppID                  string `json:"appId"`
	DisplayName            string `json:"displayName"`
	AccountEnabled         *bool  `json:"accountEnabled"`
	ServicePrincipalType   string `json:"servicePrincipalType"`
	AppOwnerOrganizationID string `json:"appOwnerOrganizationId"`
}

func TestGraphServicePrincipalRead(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)

	// The URL forms a client may produce: literal quotes, %27, other casing,
	// and whatever net/url makes of the SDK's template output.
	parsed, err := url.Parse(s.GraphBaseURL() + "/servicePrincipals(appId='" + testAppID + "')?$select=id,accountEnabled")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		s.GraphBaseURL() + "/servicePrincipals(appId='" + testAppID + "')",
		s.GraphBaseURL() + "/servicePrincipals(appId=%27" + testAppID + "%27)",
		s.GraphBaseURL() + "/serviceprincipals(appid='" + strings.ToUpper(testAppID) + "')",
		parsed.String(),
	} {
		res := graphDo(t, http.MethodGet, u, tok, nil)
		if res.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s", u, res.Status, res.Body)
			continue
		}
		var sp spBody
		if err := json.Unmarshal(res.Body, &sp); err != nil {
			t.Fatal(err)
		}
		if sp.ODataContext != "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity" || sp.AppID != testAppID ||
			sp.AccountEnabled == nil || !*sp.AccountEnabled || sp.ServicePrincipalType != "Application" ||
			sp.AppOwnerOrganizationID != s.OperatorTenantID() || sp.DisplayName != "OneMeeting CVI (test)" || sp.ID == "" {
			t.Errorf("GET %s: body %s", u, res.Body)
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || res.Header.Get("request-id") == "" {
			t.Errorf("headers %v", res.Header)
		}
	}

	// By object id, and disabled state is reported.
	s.SetSPEnabled(tenantID, testAppID, false)
	var sp spBody
	res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok, nil)
	if err := json.Unmarshal(res.Body, &sp); err != nil || sp.AccountEnabled == nil || *sp.AccountEnabled {
		t.Errorf("disabled SP: %s", res.Body)
	}
	if res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals/"+sp.ID, tok, nil); res.Status != http.StatusOK {
		t.Errorf("by object id: %d", res.Status)
	}

	// Removed: the still-valid token reads a 404.
	s.RemoveServicePrincipal(tenantID, testAppID)
	res = graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok, nil, "client-request-id", "abc-123")
	if res.Status != http.StatusNotFound || res.errorCode(t) != "Request_ResourceNotFound" || res.Header.Get("client-request-id") != "abc-123" {
		t.Errorf("removed SP: %d %s", res.Status, res.Body)
	}
}

func TestGraphAuthentication(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	s.Consent(tenantID, anySecretApp)
	spURL := s.GraphBaseURL() + "/servicePrincipals(appId='" + testAppID + "')"

	res := graphDo(t, http.MethodGet, spURL, "", nil)
	if res.Status != http.StatusUnauthorized || res.errorCode(t) != "InvalidAuthenticationToken" || res.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %s", res.Status, res.Body)
	}
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)
	tampered := tok[:len(tok)-4] + "AAAA"
	if res := graphDo(t, http.MethodGet, spURL, tampered, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("tampered token: %d", res.Status)
	}
	if res := graphDo(t, http.MethodGet, spURL, "not-a-jwt", nil); res.Status != http.StatusUnauthorized {
		t.Errorf("garbage token: %d", res.Status)
	}
	// A token from another sandbox (another key) is rejected.
	other := startSandbox(t)
	other.Consent(tenantID, testAppID)
	if res := graphDo(t, http.MethodGet, spURL, tokenFor(t, other, tenantID, testAppID, testSecret), nil); res.Status != http.StatusUnauthorized {
		t.Errorf("foreign token: %d", res.Status)
	}

	// Reading another app's service principal needs Application.Read.All.
	otherApp := tokenFor(t, s, tenantID, anySecretApp, "x")
	res = graphDo(t, http.MethodGet, spURL, otherApp, nil)
	if res.Status != http.StatusForbidden || res.errorCode(t) != "Authorization_RequestDenied" {
		t.Errorf("other app's SP: %d %s", res.Status, res.Body)
	}

	// Unknown resources and wrong methods answer like Graph.
	res = graphDo(t, http.MethodGet, s.GraphBaseURL()+"/me/events", tok, nil)
	if res.Status != http.StatusBadRequest || res.errorCode(t) != "BadRequest" {
		t.Errorf("unknown segment: %d %s", res.Status, res.Body)
	}
	if res := graphDo(t, http.MethodDelete, spURL, tok, nil); res.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", res.Status)
	}

	// Tokens stop working once the tenant is deleted.
	s.DeleteTenant(tenantID)
	if res := graphDo(t, http.MethodGet, spURL, tok, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("deleted tenant: %d", res.Status)
	}
}

func TestGraphAppRoleAssignments(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantA, tenantB := testkit.GUID(t), testkit.GUID(t)
	s.Consent(tenantA, testAppID)
	s.SetTenant(tenantB, entrasim.Scenario{GrantRoles: []string{"Calls.AccessMedia.All"}})
	s.Consent(tenantB, testAppID)

	list := func(tenantID string) (string, []map[string]any) {
		tok := tokenFor(t, s, tenantID, testAppID, testSecret)
		oid, _ := claimsOf(t, tok)["oid"].(string)
		res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals/"+oid+"/appRoleAssignments", tok, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("appRoleAssignments: %d %s", res.Status, res.Body)
		}
		var body struct {
			Value []map[string]any `json:"value"`
		}
		if err := json.Unmarshal(res.Body, &body); err != nil {
			t.Fatal(err)
		}
		return oid, body.Value
	}
	oidA, itemsA := list(tenantA)
	if len(itemsA) != 8 {
		t.Fatalf("tenant A has %d assignments, want 8", len(itemsA))
	}
	var gotIDs, wantIDs []string
	for _, id := range wantRoleIDs {
		wantIDs = append(wantIDs, id)
	}
	resourceA := itemsA[0]["resourceId"]
	for _, it := range itemsA {
		gotIDs = append(gotIDs, it["appRoleId"].(string))
		if it["principalId"] != oidA || it["principalType"] != "ServicePrincipal" || it["resourceDisplayName"] != "Microsoft Graph" ||
			it["resourceId"] != resourceA || it["id"] == "" || it["createdDateTime"] == "" {
			t.Errorf("assignment %v", it)
		}
		if _, err := time.Parse(time.RFC3339Nano, it["createdDateTime"].(string)); err != nil {
			t.Errorf("createdDateTime: %v", err)
		}
	}
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("appRoleIds = %v, want %v", gotIDs, wantIDs)
	}

	_, itemsB := list(tenantB)
	if len(itemsB) != 1 || itemsB[0]["appRoleId"] != wantRoleIDs["Calls.AccessMedia.All"] {
		t.Errorf("tenant B assignments = %v", itemsB)
	}
	if itemsB[0]["resourceId"] == resourceA {
		t.Error("Graph's resource SP id must differ per tenant")
	}
	tok := tokenFor(t, s, tenantA, testAppID, testSecret)
	if res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals/"+testkit.GUID(t)+"/appRoleAssignments", tok, nil); res.Status != http.StatusNotFound {
		t.Errorf("unknown SP: %d", res.Status)
	}
}

func TestGraphFaults(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID, calm := testkit.GUID(t), testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	s.Consent(calm, testAppID)
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)
	calmTok := tokenFor(t, s, calm, testAppID, testSecret)
	spURL := s.GraphBaseURL() + "/servicePrincipals(appId='" + testAppID + "')"

	s.SetFaults(entrasim.Faults{Rate429: 1, RetryAfterSeconds: 3})
	res := graphDo(t, http.MethodGet, spURL, tok, nil)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "3" || res.errorCode(t) != "TooManyRequests" {
		t.Errorf("Rate429: %d %v %s", res.Status, res.Header, res.Body)
	}

	s.SetFaults(entrasim.Faults{Status503: true})
	res = graphDo(t, http.MethodGet, spURL, tok, nil)
	if res.Status != http.StatusServiceUnavailable || res.errorCode(t) == "" {
		t.Errorf("Status503: %d %s", res.Status, res.Body)
	}

	// A tenant's own faults replace the global ones.
	s.SetTenant(calm, entrasim.Scenario{Faults: entrasim.Faults{Latency: time.Millisecond}})
	if res := graphDo(t, http.MethodGet, spURL, calmTok, nil); res.Status != http.StatusOK {
		t.Errorf("tenant override of global 503: %d", res.Status)
	}
	s.SetFaults(entrasim.Faults{})
	s.SetTenant(tenantID, entrasim.Scenario{Faults: entrasim.Faults{Rate429: 1, ApplyToGraph: true}})
	if res := graphDo(t, http.MethodGet, spURL, tok, nil); res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "0" {
		t.Errorf("tenant Rate429: %d", res.Status)
	}
	if res := graphDo(t, http.MethodGet, spURL, calmTok, nil); res.Status != http.StatusOK {
		t.Errorf("other tenant throttled: %d", res.Status)
	}
	// Token-only faults leave Graph alone.
	s.SetTenant(tenantID, entrasim.Scenario{})
	s.SetFaults(entrasim.Faults{Status503: true, ApplyToToken: true})
	if res := graphDo(t, http.MethodGet, spURL, tok, nil); res.Status != http.StatusOK {
		t.Errorf("token-only fault hit Graph: %d", res.Status)
	}
	st := s.Stats()
	if st.Served429 != 2 || st.Served503 != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestGraphRate429IsDeterministic(t *testing.T) {
	t.Parallel()
	sequence := func(seed uint64) string {
		s := startSandbox(t, func(o *entrasim.Options) { o.Seed = seed; o.SigningKeyBits = 1024 })
		s.SetFaults(entrasim.Faults{Rate429: 0.5})
		var b strings.Builder
		for range 40 {
			if res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='x')", "", nil); res.Status == http.StatusTooManyRequests {
				b.WriteByte('T')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b, c := sequence(7), sequence(7), sequence(8)
	if a != b {
		t.Errorf("same seed, different sequences:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same sequence %s", a)
	}
	if n := strings.Count(a, "T"); n < 8 || n > 32 {
		t.Errorf("Rate429=0.5 throttled %d of 40", n)
	}
}

func TestGraphStatsPriorityAndConcurrency(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.Consent(tenantID, testAppID)
	tok := tokenFor(t, s, tenantID, testAppID, testSecret)
	spURL := s.GraphBaseURL() + "/servicePrincipals(appId='" + testAppID + "')"

	graphDo(t, http.MethodGet, spURL, tok, nil, "x-ms-throttle-priority", "low")
	graphDo(t, http.MethodGet, spURL, tok, nil, "x-ms-throttle-priority", "Low")
	graphDo(t, http.MethodGet, spURL, tok, nil, "x-ms-throttle-priority", "high")
	graphDo(t, http.MethodGet, spURL, tok, nil)

	// Overlap requests with injected latency to observe concurrency.
	s.SetFaults(entrasim.Faults{Latency: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if res := graphDo(t, http.MethodGet, spURL, tok, nil); res.Status != http.StatusOK {
				t.Errorf("status %d", res.Status)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.LowPriorityGraphRequests != 2 || st.GraphRequests != 10 || st.GraphRequestsByTenant[tenantID] != 10 {
		t.Errorf("stats = %+v", st)
	}
	if st.MaxConcurrentGraph < 2 || st.MaxConcurrentGraph > 6 {
		t.Errorf("MaxConcurrentGraph = %d", st.MaxConcurrentGraph)
	}
}

// TestGraphURLsAsTheSDKBuildsThem expands msgraph-sdk-go's own URL templates
// the way kiota does (std-uritemplate, then url.Parse) and sends them.
func TestGraphURLsAsTheSDKBuildsThem(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) { o.SigningKeyBits = 1024 })
	op := s.OperatorTenantID()
	tok := tokenFor(t, s, op, testAppID, testSecret)
	expand := func(template string, subs stduritemplate.Substitutions) string {
		subs["baseurl"] = s.GraphBaseURL()
		raw, err := stduritemplate.Expand(template, subs)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	spURL := expand("{+baseurl}/servicePrincipals(appId='{appId}'){?%24expand,%24select}",
		stduritemplate.Substitutions{"appId": testAppID, "%24select": []any{"id", "accountEnabled"}})
	if res := graphDo(t, http.MethodGet, spURL, tok, nil); res.Status != http.StatusOK {
		t.Errorf("GET %s: %d %s", spURL, res.Status, res.Body)
	}
	sender := "no reply+cvi@provider.example"
	mailURL := expand("{+baseurl}/users/{user%2Did}/sendMail", stduritemplate.Substitutions{"user%2Did": sender})
	if res := graphDo(t, http.MethodPost, mailURL, tok, strings.NewReader(mailJSON)); res.Status != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s", mailURL, res.Status, res.Body)
	}
	if m := s.SentMail(); len(m) != 1 || m[0].From != sender {
		t.Errorf("SentMail = %+v, want one from %q (URL %s)", m, sender, mailURL)
	}
}
