package graph

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// fakeManagedIdentity stands in for the user-assigned managed identity
// whose token-exchange token is the client assertion.
type fakeManagedIdentity struct {
	calls atomic.Int64
	err   error
}

func (f *fakeManagedIdentity) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.calls.Add(1)
	if !slices.Equal(o.Scopes, []string{tokenExchangeScope}) {
		return azcore.AccessToken{}, errors.New("unexpected scopes " + strings.Join(o.Scopes, " "))
	}
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	return azcore.AccessToken{Token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtaSJ9.c2ln", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestFederatedCredentialsShareOneManagedIdentity(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	mi := &fakeManagedIdentity{}
	creds := newCreds(t, s, func(o *CredentialOptions) {
		o.Mode, o.ClientSecret, o.ManagedIdentity = config.CredentialFederated, "", mi
	})
	c := newChecker(t, s, creds, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	for range 3 {
		tenantID := consented(t, s)
		res, err := c.Check(ctx, tenantID, testAppID, CheckOptions{})
		if err != nil || res.Outcome != OutcomeConsented {
			t.Fatalf("federated check: %+v, %v", res, err)
		}
		if tok, gr := requests(s, tenantID); tok != 1 || gr != 1 {
			t.Errorf("%d token + %d graph requests, want 1 + 1", tok, gr)
		}
	}
	if n := mi.calls.Load(); n != 3 {
		t.Errorf("managed identity asked %d times, want once per tenant token (3)", n)
	}
}

func TestFederatedManagedIdentityFailures(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := consented(t, s)
	rejected := &azidentity.AuthenticationFailedError{RawResponse: &http.Response{
		StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"error":"invalid_request","error_description":"Identity not found"}`)),
	}}
	for _, tc := range []struct {
		name string
		err  error
		want domain.Code
	}{
		{"identity rejected", rejected, domain.CodeInternal},
		{"identity endpoint unreachable", errors.New("dial tcp 169.254.169.254:80: connect: connection refused"), domain.CodeUnavailable},
	} {
		mi := &fakeManagedIdentity{err: tc.err}
		creds := newCreds(t, s, func(o *CredentialOptions) {
			o.Mode, o.ClientSecret, o.ManagedIdentity = config.CredentialFederated, "", mi
		})
		res, err := newChecker(t, s, creds, nil).Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
		if domain.ErrorCode(err) != tc.want || res.Outcome != "" {
			t.Errorf("%s: %+v, %v; want code %s", tc.name, res, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "managed identity") {
			t.Errorf("%s: error should name the managed identity: %v", tc.name, err)
		}
	}
	if tok, _ := requests(s, tenantID); tok != 0 {
		t.Errorf("token endpoint called %d times without an assertion", tok)
	}
}

func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	creds := newCreds(t, s, func(o *CredentialOptions) {
		o.Mode, o.ClientSecret, o.Certificate = config.CredentialCertificate, "", selfSignedPEM(t)
	})
	tenantID := consented(t, s)
	res, err := newChecker(t, s, creds, nil).Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeConsented {
		t.Fatalf("certificate check: %+v, %v", res, err)
	}
	if tok, gr := requests(s, tenantID); tok != 1 || gr != 1 {
		t.Errorf("%d token + %d graph requests, want 1 + 1", tok, gr)
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "onemeeting-cvi-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
}

func TestNewCredentialsValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    CredentialOptions
	}{
		{"unknown mode", CredentialOptions{Mode: "password"}},
		{"secret mode without secret", CredentialOptions{Mode: config.CredentialSecret}},
		{"certificate mode without certificate", CredentialOptions{Mode: config.CredentialCertificate}},
		{"certificate not parseable", CredentialOptions{Mode: config.CredentialCertificate, Certificate: []byte("not a certificate")}},
	} {
		if _, err := NewCredentials(tc.o); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Federation without an override builds a real ManagedIdentityCredential (no I/O yet).
	if _, err := NewCredentials(CredentialOptions{Mode: config.CredentialFederated, ManagedIdentityClientID: testkit.GUID(t)}); err != nil {
		t.Errorf("federated with a user-assigned identity: %v", err)
	}
	c, err := NewCredentials(CredentialOptions{Mode: config.CredentialSecret, ClientSecret: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.For("", testAppID); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("empty tenant: %v", err)
	}
	a, err := c.For("AAAAAAAA-0000-4000-8000-000000000000", testAppID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.For("aaaaaaaa-0000-4000-8000-000000000000", strings.ToUpper(testAppID))
	if a != b || c.Len() != 1 {
		t.Errorf("tenant/app IDs differing only in case got separate credentials")
	}
	c.Forget("aaaaaaaa-0000-4000-8000-000000000000", testAppID)
	if c.Len() != 0 {
		t.Errorf("Forget left %d credentials", c.Len())
	}
}

func TestRolesOf(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	roles, err := rolesOf("h." + enc(`{"roles":["B.Read","A.Write"],"tid":"x"}`) + ".sig")
	if err != nil || !slices.Equal(roles, []string{"B.Read", "A.Write"}) {
		t.Errorf("roles = %v, %v", roles, err)
	}
	// Padded base64 (some issuers pad) is accepted too.
	padded := base64.URLEncoding.EncodeToString([]byte(`{"roles":["X"]}`))
	if roles, err := rolesOf("h." + padded + ".s"); err != nil || !slices.Equal(roles, []string{"X"}) {
		t.Errorf("padded payload: %v, %v", roles, err)
	}
	if roles, err := rolesOf("h." + enc(`{"tid":"x"}`) + ".s"); err != nil || roles != nil {
		t.Errorf("no roles claim: %v, %v", roles, err)
	}
	for _, bad := range []string{"", "opaque-token", "a.b", "h.!!!.s", "h." + enc("not json") + ".s"} {
		if _, err := rolesOf(bad); err == nil {
			t.Errorf("rolesOf(%q) accepted", bad)
		}
	}
}

func TestMissingRoles(t *testing.T) {
	t.Parallel()
	got := missingRoles([]string{"A", "B", "C", "D"}, []string{"D", "B", "Z"})
	if !slices.Equal(got, []string{"A", "C"}) {
		t.Errorf("missing = %v", got)
	}
	if got := missingRoles([]string{"A"}, []string{"A"}); got != nil {
		t.Errorf("nothing missing = %v", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"": 0, "1": time.Second, " 120 ": 2 * time.Minute, "0": 0, "-3": 0, "1.5": 1500 * time.Millisecond, "soon": 0,
		"Mon, 02 Jan 2006 15:04:05 GMT": 0, // in the past
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(future); got < 80*time.Second || got > 90*time.Second {
		t.Errorf("HTTP date 90s ahead = %v", got)
	}
}

func TestRetryAfterCarriedThroughWrapping(t *testing.T) {
	t.Parallel()
	err := unavailable(errors.New("busy"), 7*time.Second, "graph")
	wrapped := errors.Join(errors.New("outer"), err)
	if RetryAfter(wrapped) != 7*time.Second || !domain.IsTransient(err) {
		t.Errorf("RetryAfter(wrapped) = %v", RetryAfter(wrapped))
	}
	if RetryAfter(errors.New("plain")) != 0 || RetryAfter(nil) != 0 {
		t.Error("RetryAfter of an error without Retry-After must be 0")
	}
	if got := unavailable(errors.New("busy"), 0, "graph"); RetryAfter(got) != 0 || !strings.Contains(got.Error(), "busy") {
		t.Errorf("no Retry-After: %v", got)
	}
}
