package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const (
	tenantID   = "11111111-2222-3333-4444-555555555555"
	issuer     = "https://login.microsoftonline.com/" + tenantID + "/v2.0"
	clientID   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	appIDURI   = "api://onemeeting-cvi-admin"
	callerApp  = "99999999-8888-7777-6666-555555555555"
	userOID    = "0c0c0c0c-1d1d-2e2e-3f3f-404040404040"
	signingKID = "key-1"
	rotatedKID = "key-2"
	minRefresh = time.Minute
	cacheTTL   = time.Hour
)

var baseTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testKeys are generated once per test binary and never modified.
type testKeys struct {
	signing  *rsa.PrivateKey // published as signingKID (with x5c, like Entra)
	rotated  *rsa.PrivateKey // published as rotatedKID in rotation tests
	attacker *rsa.PrivateKey // never published
	weak     *rsa.PrivateKey // 1024 bits
	ec       *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	gen := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return k
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{signing: gen(2048), rotated: gen(2048), attacker: gen(2048), weak: gen(1024), ec: ec}
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK renders pub the way Entra's JWKS does (kty, use, kid, n, e, plus
// opts such as x5c).
func rsaJWK(kid string, pub *rsa.PublicKey, opts ...func(map[string]any)) map[string]any {
	m := map[string]any{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    kid,
		"n":      b64(pub.N.Bytes()),
		"e":      b64(big.NewInt(int64(pub.E)).Bytes()),
		"issuer": issuer, // Entra adds this non-standard member
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// withCert adds x5c/x5t for a self-signed certificate of certKey.
func withCert(t *testing.T, certKey *rsa.PrivateKey) func(map[string]any) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    baseTime.Add(-24 * time.Hour),
		NotAfter:     baseTime.Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	thumb := sha1.Sum(der)
	return func(m map[string]any) {
		m["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
		m["x5t"] = b64(thumb[:])
	}
}

func set(key string, value any) func(map[string]any) {
	return func(m map[string]any) {
		if value == nil {
			delete(m, key)
			return
		}
		m[key] = value
	}
}

// jwksServer serves a JWKS on 127.0.0.1 and counts requests.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	gate   chan struct{} // when set, requests wait for it to close

	releaseOnce sync.Once
}

func newJWKSServer(t *testing.T, jwks ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serveKeys(t, jwks...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body, gate := s.status, s.body, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(s.release) // runs before Close, so gated handlers finish
	return s
}

func (s *jwksServer) serveKeys(t *testing.T, jwks ...map[string]any) {
	t.Helper()
	if jwks == nil {
		jwks = []map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		t.Fatalf("marshal JWKS: %v", err)
	}
	s.serveRaw(http.StatusOK, body)
}

func (s *jwksServer) serveRaw(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *jwksServer) release() {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		s.releaseOnce.Do(func() { close(gate) })
	}
}

func (s *jwksServer) count() int64 { return s.fetches.Load() }

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	jwks  *jwksServer
	clock *fakeClock
	logs  *testkit.SyncBuffer
	v     *auth.Validator
}

// newEnv serves the signing key (with x5c, as Entra does) and builds a
// validator on a fake clock.
func newEnv(t *testing.T, mutate ...func(*auth.Config)) *env {
	t.Helper()
	e := &env{
		jwks:  newJWKSServer(t, rsaJWK(signingKID, &keys().signing.PublicKey, withCert(t, keys().signing))),
		clock: &fakeClock{now: baseTime},
		logs:  &testkit.SyncBuffer{},
	}
	cfg := auth.Config{
		Issuer:             issuer,
		ClientID:           clientID,
		AppIDURI:           appIDURI,
		JWKSURL:            e.jwks.URL + "/discovery/v2.0/keys",
		HTTPClient:         e.jwks.Client(),
		Now:                e.clock.Now,
		MinRefreshInterval: minRefresh,
		CacheTTL:           cacheTTL,
		Logger:             slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := auth.NewValidator(cfg)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	e.v = v
	return e
}

func (e *env) validate(t *testing.T, token string) (auth.Principal, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.v.Validate(ctx, token)
}

// userClaims are the claims of a v2 delegated token for an operator.
func userClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   issuer,
		"aud":   clientID,
		"exp":   now.Add(time.Hour).Unix(),
		"nbf":   now.Add(-5 * time.Minute).Unix(),
		"iat":   now.Add(-5 * time.Minute).Unix(),
		"oid":   userOID,
		"tid":   tenantID,
		"sub":   "pairwise-subject",
		"azp":   callerApp,
		"name":  "Olivia Operator",
		"roles": []string{auth.RoleReadWrite},
		"scp":   "access_as_user",
		"ver":   "2.0",
	}
}

func with(c jwt.MapClaims, key string, value any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

// mint signs claims with golang-jwt, setting kid unless it is empty.
func mint(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return s
}

// mintRaw builds a token with an arbitrary header, signed RS256 by key.
func mintRaw(t *testing.T, header map[string]any, claims jwt.MapClaims, key crypto.Signer) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	sig, err := jwt.SigningMethodRS256.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}
