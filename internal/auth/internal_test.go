package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestKeyFuncRefusesNonRS256 checks the second line of defence: even if the
// parser's method allow-list were removed, the key function hands out keys
// only for RS256 and only as *rsa.PublicKey (useless as an HMAC secret).
func TestKeyFuncRefusesNonRS256(t *testing.T) {
	t.Parallel()
	v, err := NewValidator(Config{Issuer: "iss", ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", JWKSURL: closedLoopbackURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	methods := []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodRS384, jwt.SigningMethodPS256,
		jwt.SigningMethodES256, jwt.SigningMethodNone, jwt.SigningMethodEdDSA}
	for _, m := range methods {
		key, err := v.keyFunc(context.Background())(&jwt.Token{Method: m, Header: map[string]any{"kid": "k", "alg": m.Alg()}})
		if err == nil || key != nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: keyFunc = %v, %v; want refusal", m.Alg(), key, err)
		}
	}
}

func TestParseJWKSNeverPanics(t *testing.T) {
	t.Parallel()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	n := base64.RawURLEncoding.EncodeToString(k.N.Bytes())
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	good := `{"kty":"RSA","use":"sig","kid":"good","n":"` + n + `","e":"` + e + `"}`
	tests := []struct {
		name     string
		body     string
		wantKeys int
		wantErr  bool
	}{
		{"good key", `{"keys":[` + good + `]}`, 1, false},
		{"null keys", `{"keys":null}`, 0, true},
		{"no keys member", `{}`, 0, true},
		{"top-level array", `[` + good + `]`, 0, true},
		{"key not an object", `{"keys":[42,"x",null,` + good + `]}`, 1, false},
		{"e zero", `{"keys":[{"kty":"RSA","use":"sig","kid":"z","n":"` + n + `","e":"AA"},` + good + `]}`, 1, false},
		{"e huge", `{"keys":[{"kty":"RSA","use":"sig","kid":"h","n":"` + n + `","e":"` + strings.Repeat("_", 400) + `"},` + good + `]}`, 1, false},
		{"n empty", `{"keys":[{"kty":"RSA","use":"sig","kid":"e","n":"","e":"AQAB"},` + good + `]}`, 1, false},
		{"x5c garbage", `{"keys":[{"kty":"RSA","use":"sig","kid":"x","n":"` + n + `","e":"` + e + `","x5c":["!!"]},` + good + `]}`, 1, false},
		{"kid too long", `{"keys":[{"kty":"RSA","use":"sig","kid":"` + strings.Repeat("k", maxKIDLen+1) + `","n":"` + n + `","e":"` + e + `"},` + good + `]}`, 1, false},
		{"private members are ignored, public key kept", `{"keys":[{"kty":"RSA","use":"sig","kid":"good","n":"` + n + `","e":"` + e + `","d":"AQAB"}]}`, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, skipped, err := parseJWKS([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseJWKS err = %v, wantErr %v (skipped %v)", err, tc.wantErr, skipped)
			}
			if len(keys) != tc.wantKeys {
				t.Errorf("got %d keys, want %d (skipped %v)", len(keys), tc.wantKeys, skipped)
			}
			if len(keys) == 1 && !keys["good"].Equal(&k.PublicKey) {
				t.Errorf("kept key differs from the published one")
			}
		})
	}
}

// TestKeyCacheFailsClosedWithoutNetwork: a refused connection is an error,
// and the retry is rate-limited without another attempt.
func TestKeyCacheFailsClosedWithoutNetwork(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v, err := NewValidator(Config{Issuer: "iss", ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", JWKSURL: closedLoopbackURL(t),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"GET JWKS", "rate-limited"} {
		key, err := v.keys.key(context.Background(), "kid")
		if key != nil || !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("attempt %d: key = %v, err = %v; want ErrKeysUnavailable containing %q", i+1, key, err, want)
		}
	}
}

// closedLoopbackURL returns a URL on 127.0.0.1 where nothing listens.
func closedLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/keys"
}
