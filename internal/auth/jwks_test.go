package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestUnknownKIDRefetchesOnceThenRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := keys()
	valid := mint(t, jwt.SigningMethodRS256, k.signing, signingKID, userClaims(baseTime))
	unknown := func(kid string) string {
		return mint(t, jwt.SigningMethodRS256, k.attacker, kid, userClaims(baseTime))
	}

	steps := []struct {
		name        string
		advance     time.Duration
		token       string
		wantOK      bool
		wantFetches int64
		wantErr     string
	}{
		{"cold cache: first fetch", 0, valid, true, 1, ""},
		{"unknown kid: one refetch", time.Second, unknown("garbage-1"), false, 2, "not in freshly fetched JWKS"},
		{"second unknown kid within MinRefreshInterval: no fetch", time.Second, unknown("garbage-2"), false, 2, "rate-limited"},
		{"same unknown kid again: no fetch", minRefresh - 2*time.Second, unknown("garbage-1"), false, 2, "rate-limited"},
		{"known kid unaffected by rate limit", 0, valid, true, 2, ""},
		{"after MinRefreshInterval: one more refetch", time.Second, unknown("garbage-3"), false, 3, "not in freshly fetched JWKS"},
		{"and limited again", 0, unknown("garbage-4"), false, 3, "rate-limited"},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		_, err := e.validate(t, s.token)
		if s.wantOK != (err == nil) {
			t.Fatalf("%s: err = %v, want ok=%v", s.name, err, s.wantOK)
		}
		if err != nil && (!errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), s.wantErr)) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated containing %q", s.name, err, s.wantErr)
		}
		if err != nil && errors.Is(err, auth.ErrKeysUnavailable) {
			t.Errorf("%s: unknown kid reported as keys unavailable: %v", s.name, err)
		}
		if got := e.jwks.count(); got != s.wantFetches {
			t.Errorf("%s: JWKS fetched %d times, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	oldToken := mint(t, jwt.SigningMethodRS256, k.signing, signingKID, userClaims(baseTime))
	newToken := mint(t, jwt.SigningMethodRS256, k.rotated, rotatedKID, userClaims(baseTime))
	thirdToken := mint(t, jwt.SigningMethodRS256, k.attacker, "key-3", userClaims(baseTime))
	rotated := rsaJWK(rotatedKID, &k.rotated.PublicKey)
	third := rsaJWK("key-3", &k.attacker.PublicKey)

	e := newEnv(t)
	if _, err := e.validate(t, oldToken); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	steps := []struct {
		name        string
		publish     []map[string]any // new JWKS served from this step on
		advance     time.Duration
		token       string
		wantOK      bool
		wantFetches int64
	}{
		// Entra publishes the new key and drops the old one.
		{"new kid: refetched once and accepted", []map[string]any{rotated}, 10 * time.Second, newToken, true, 2},
		{"new kid again: served from cache", nil, time.Second, newToken, true, 2},
		{"old kid, removed from the JWKS, is no longer accepted", nil, 0, oldToken, false, 2},
		{"next rotation within MinRefreshInterval: refused without fetch", []map[string]any{rotated, third}, 0, thirdToken, false, 2},
		{"next rotation after MinRefreshInterval: refetched and accepted", nil, minRefresh, thirdToken, true, 3},
	}
	for _, s := range steps {
		if s.publish != nil {
			e.jwks.serveKeys(t, s.publish...)
		}
		e.clock.Advance(s.advance)
		_, err := e.validate(t, s.token)
		if s.wantOK != (err == nil) {
			t.Fatalf("%s: err = %v, want ok=%v", s.name, err, s.wantOK)
		}
		if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v does not wrap ErrUnauthenticated", s.name, err)
		}
		if got := e.jwks.count(); got != s.wantFetches {
			t.Errorf("%s: JWKS fetched %d times, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		serverDown  bool
		wantOK      bool
		wantFetches int64
	}{
		{"refetched after TTL", false, true, 2},
		{"fails closed when the refetch after TTL fails", true, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token := mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, userClaims(baseTime))
			if _, err := e.validate(t, token); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(cacheTTL - time.Second)
			if _, err := e.validate(t, token); err != nil || e.jwks.count() != 1 {
				t.Fatalf("within TTL: err %v, fetches %d (want nil, 1)", err, e.jwks.count())
			}
			if tc.serverDown {
				e.jwks.serveRaw(http.StatusServiceUnavailable, []byte("down"))
			}
			e.clock.Advance(time.Second)
			_, err := e.validate(t, token)
			if tc.wantOK != (err == nil) {
				t.Fatalf("after TTL: err %v, want ok=%v", err, tc.wantOK)
			}
			if !tc.wantOK && !errors.Is(err, auth.ErrKeysUnavailable) {
				t.Errorf("after TTL: %v does not wrap ErrKeysUnavailable", err)
			}
			if got := e.jwks.count(); got != tc.wantFetches {
				t.Errorf("JWKS fetched %d times, want %d", got, tc.wantFetches)
			}
		})
	}
}

// TestJWKSUnavailable: every fetch failure is an ErrUnauthenticated (never a
// panic), is not retried within MinRefreshInterval, and recovers after it.
func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		break_   func(t *testing.T, e *env)
		counted  bool // the server sees the attempt
		wantErr  string
		downHard bool // server gone: no recovery step
	}{
		{"server down (connection refused)", func(t *testing.T, e *env) { e.jwks.Close() }, false, "GET JWKS", true},
		{"HTTP 500", func(t *testing.T, e *env) { e.jwks.serveRaw(http.StatusInternalServerError, []byte(`{"keys":[]}`)) }, true, "unexpected status", false},
		{"HTTP 404", func(t *testing.T, e *env) { e.jwks.serveRaw(http.StatusNotFound, nil) }, true, "unexpected status", false},
		{"not JSON", func(t *testing.T, e *env) { e.jwks.serveRaw(http.StatusOK, []byte("<html>")) }, true, "decode JWKS", false},
		{"keys not an array", func(t *testing.T, e *env) { e.jwks.serveRaw(http.StatusOK, []byte(`{"keys":{}}`)) }, true, "decode JWKS", false},
		{"empty key set", func(t *testing.T, e *env) { e.jwks.serveKeys(t) }, true, "no usable RS256 signing key", false},
		{"body over 1 MiB", func(t *testing.T, e *env) {
			e.jwks.serveRaw(http.StatusOK, []byte(`{"keys":[],"x":"`+strings.Repeat("x", 1<<20)+`"}`))
		}, true, "exceeds", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.break_(t, e)
			token := mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, userClaims(baseTime))

			for attempt := 1; attempt <= 2; attempt++ {
				p, err := e.validate(t, token)
				if err == nil {
					t.Fatalf("attempt %d: accepted with JWKS unavailable: %+v", attempt, p)
				}
				if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, auth.ErrKeysUnavailable) {
					t.Errorf("attempt %d: %v should wrap ErrUnauthenticated and ErrKeysUnavailable", attempt, err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("attempt %d: %q does not contain %q", attempt, err, tc.wantErr)
				}
				if tc.counted && e.jwks.count() != 1 {
					t.Errorf("attempt %d: JWKS fetched %d times, want 1 (failures are rate-limited too)", attempt, e.jwks.count())
				}
			}
			if tc.downHard {
				return
			}
			e.jwks.serveKeys(t, rsaJWK(signingKID, &keys().signing.PublicKey))
			e.clock.Advance(minRefresh)
			if _, err := e.validate(t, token); err != nil {
				t.Fatalf("after recovery and MinRefreshInterval: %v", err)
			}
		})
	}
}

func TestCallerContextCancelledWhileFetching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.jwks.hold()
	token := mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, userClaims(baseTime))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.v.Validate(ctx, token)
		done <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the first JWKS fetch", func() bool { return e.jwks.count() == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want ErrUnauthenticated wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Validate did not return after its context was cancelled")
	}
	// The shared fetch finishes on its own; the next caller uses its result.
	e.jwks.release()
	testkit.Eventually(t, 5*time.Second, "a token that validates after the held fetch", func() bool {
		_, err := e.validate(t, token)
		return err == nil
	})
	if n := e.jwks.count(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestConcurrentValidationSharesOneFetch(t *testing.T) {
	t.Parallel()
	const callers = 32
	k := keys()
	tests := []struct {
		name        string
		warm        bool
		token       func(i int) string
		wantOK      bool
		wantFetches int64
	}{
		{"cold cache, valid tokens", false, func(int) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, userClaims(baseTime))
		}, true, 1},
		{"warm cache, distinct unknown kids", true, func(i int) string {
			return mint(t, jwt.SigningMethodRS256, k.attacker, fmt.Sprintf("garbage-%d", i), userClaims(baseTime))
		}, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.warm {
				if _, err := e.validate(t, mint(t, jwt.SigningMethodRS256, k.signing, signingKID, userClaims(baseTime))); err != nil {
					t.Fatal(err)
				}
			}
			tokens := make([]string, callers)
			for i := range tokens {
				tokens[i] = tc.token(i)
			}
			before := e.jwks.count()
			e.jwks.hold()
			var started, finished sync.WaitGroup
			errs := make([]error, callers)
			for i := range callers {
				started.Add(1)
				finished.Add(1)
				go func() {
					defer finished.Done()
					started.Done()
					_, errs[i] = e.v.Validate(context.Background(), tokens[i])
				}()
			}
			started.Wait()
			testkit.Eventually(t, 5*time.Second, "one more JWKS fetch", func() bool { return e.jwks.count() > before })
			e.jwks.release()
			finished.Wait()
			for i, err := range errs {
				if tc.wantOK != (err == nil) {
					t.Errorf("caller %d: err %v, want ok=%v", i, err, tc.wantOK)
				}
				if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("caller %d: %v does not wrap ErrUnauthenticated", i, err)
				}
			}
			if got := e.jwks.count(); got != tc.wantFetches {
				t.Errorf("JWKS fetched %d times by %d concurrent callers, want %d", got, callers, tc.wantFetches)
			}
		})
	}
}

// TestJWKSKeyFiltering: keys unfit for RS256 signatures are ignored even
// when a token names them.
func TestJWKSKeyFiltering(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name string
		jwk  map[string]any
		sign any // private key used for the RS256 token with kid "candidate"
	}{
		{"use enc", rsaJWK("candidate", &k.rotated.PublicKey, set("use", "enc")), k.rotated},
		{"use missing", rsaJWK("candidate", &k.rotated.PublicKey, set("use", nil)), k.rotated},
		{"RSA key under 2048 bits", rsaJWK("candidate", &k.weak.PublicKey), k.weak},
		{"alg RS384 on the key", rsaJWK("candidate", &k.rotated.PublicKey, set("alg", "RS384")), k.rotated},
		{"key_ops without verify", rsaJWK("candidate", &k.rotated.PublicKey, set("key_ops", []string{"encrypt"})), k.rotated},
		{"kty oct (HMAC secret)", map[string]any{"kty": "oct", "use": "sig", "kid": "candidate", "k": b64([]byte("secret"))}, k.rotated},
		{"kty EC", map[string]any{"kty": "EC", "use": "sig", "kid": "candidate", "crv": "P-256",
			"x": b64(k.ec.X.FillBytes(make([]byte, 32))), "y": b64(k.ec.Y.FillBytes(make([]byte, 32)))}, k.rotated},
		{"x5c certificate of another key", rsaJWK("candidate", &k.rotated.PublicKey, withCert(t, k.attacker)), k.rotated},
		{"n not base64url", rsaJWK("candidate", &k.rotated.PublicKey, set("n", "!!!")), k.rotated},
		{"e missing", rsaJWK("candidate", &k.rotated.PublicKey, set("e", nil)), k.rotated},
		{"duplicate kid (first one wins)", rsaJWK(signingKID, &k.rotated.PublicKey), k.rotated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.jwks.serveKeys(t, rsaJWK(signingKID, &k.signing.PublicKey), tc.jwk)
			kid := "candidate"
			if tc.jwk["kid"] == signingKID {
				kid = signingKID
			}
			_, err := e.validate(t, mint(t, jwt.SigningMethodRS256, tc.sign, kid, userClaims(baseTime)))
			if err == nil || !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("token signed by a filtered key: err = %v, want ErrUnauthenticated", err)
			}
			// The usable key in the same set still works.
			if _, err := e.validate(t, mint(t, jwt.SigningMethodRS256, k.signing, signingKID, userClaims(baseTime))); err != nil {
				t.Errorf("usable key rejected: %v", err)
			}
		})
	}
}

func TestNewValidatorDoesNoNetworkIO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if n := e.jwks.count(); n != 0 {
		t.Errorf("NewValidator fetched the JWKS %d times, want 0", n)
	}
}
