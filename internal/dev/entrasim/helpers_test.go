package entrasim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const (
	testAppID    = "11111111-2222-3333-4444-555555555555"
	testSecret   = "s3cr3t-value"
	anySecretApp = "66666666-7777-8888-9999-000000000000"
	graphScope   = "https://graph.microsoft.com/.default"
)

func noEnv(string) (string, bool) { return "", false }

// startSandbox starts a sandbox that is closed at the end of the test.
func startSandbox(t testing.TB, mutate ...func(*entrasim.Options)) *entrasim.Sandbox {
	t.Helper()
	opts := entrasim.Options{
		OperatorTenantID: testkit.GUID(t),
		Apps: []entrasim.App{
			{AppID: testAppID, DisplayName: "OneMeeting CVI (test)", ClientSecret: testSecret},
			{AppID: anySecretApp, DisplayName: "Any-secret app"},
		},
		LookupEnv: noEnv,
		Seed:      42,
	}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := entrasim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func credential(t testing.TB, s *entrasim.Sandbox, tenantID, appID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, appID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost()},
			Transport: s.HTTPClient(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

func getToken(ctx context.Context, cred azcore.TokenCredential) (azcore.AccessToken, error) {
	return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
}

type aadError struct {
	Status           int
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

// aadErrorOf extracts the token-endpoint error body from an azidentity error.
func aadErrorOf(t testing.TB, err error) aadError {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("error is %T (%v), want *azidentity.AuthenticationFailedError", err, err)
	}
	if afe.RawResponse == nil {
		t.Fatalf("AuthenticationFailedError without RawResponse: %v", err)
	}
	body, rerr := io.ReadAll(afe.RawResponse.Body)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var e aadError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	e.Status = afe.RawResponse.StatusCode
	return e
}

func (e aadError) hasCode(code int) bool {
	for _, c := range e.ErrorCodes {
		if c == code {
			return true
		}
	}
	return false
}

// claimsOf decodes a JWT payload without verifying it.
func claimsOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// tokenFor fetches a Graph token with a plain form POST.
func tokenFor(t testing.TB, s *entrasim.Sandbox, tenantID, appID, secret string) string {
	t.Helper()
	status, body := postToken(t, s, tenantID, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret}, "scope": {graphScope},
	})
	if status != http.StatusOK {
		t.Fatalf("token: HTTP %d %s", status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr.AccessToken
}

func postToken(t testing.TB, s *entrasim.Sandbox, tenantID string, form url.Values) (int, []byte) {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(s.AuthorityHost()+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

type graphResult struct {
	Status int
	Header http.Header
	Body   []byte
}

func (g graphResult) errorCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				Date      string `json:"date"`
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(g.Body, &e); err != nil {
		t.Fatalf("Graph error body not JSON: %v: %s", err, g.Body)
	}
	if e.Error.InnerError.RequestID == "" || e.Error.InnerError.Date == "" || e.Error.Message == "" {
		t.Errorf("Graph error body lacks message/innerError: %s", g.Body)
	}
	return e.Error.Code
}

func graphDo(t testing.TB, method, rawURL, token string, body io.Reader, header ...string) graphResult {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return graphResult{resp.StatusCode, resp.Header, b}
}

// noRedirectClient returns 3xx responses instead of following them.
func noRedirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
