package auth_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
)

func TestValidateAcceptsEntraAccessTokens(t *testing.T) {
	t.Parallel()
	now := baseTime
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   auth.Principal
	}{
		{
			name:   "v2 delegated user token, aud = client ID",
			claims: userClaims(now),
			want: auth.Principal{ObjectID: userOID, Name: "Olivia Operator", TenantID: tenantID, AppID: callerApp,
				Roles: []string{auth.RoleReadWrite}, Subject: "pairwise-subject"},
		},
		{
			name:   "v2 app-only token (client credentials): appid-style display name, aud = client ID",
			claims: with(with(userClaims(now), "name", nil), "app_displayname", "CRM automation"),
			want: auth.Principal{ObjectID: userOID, Name: "CRM automation", TenantID: tenantID, AppID: callerApp,
				Roles: []string{auth.RoleReadWrite}, Subject: "pairwise-subject"},
		},
		{
			name:   "v2 app-only token without display name falls back to azp",
			claims: with(with(userClaims(now), "name", nil), "roles", []string{auth.RoleRead}),
			want: auth.Principal{ObjectID: userOID, Name: callerApp, TenantID: tenantID, AppID: callerApp,
				Roles: []string{auth.RoleRead}, Subject: "pairwise-subject"},
		},
		{
			name:   "aud array containing one accepted value",
			claims: with(userClaims(now), "aud", []string{"api://something-else", clientID}),
			want: auth.Principal{ObjectID: userOID, Name: "Olivia Operator", TenantID: tenantID, AppID: callerApp,
				Roles: []string{auth.RoleReadWrite}, Subject: "pairwise-subject"},
		},
		{
			name:   "no roles claim still authenticates (Require decides authorization)",
			claims: with(userClaims(now), "roles", nil),
			want: auth.Principal{ObjectID: userOID, Name: "Olivia Operator", TenantID: tenantID, AppID: callerApp,
				Subject: "pairwise-subject"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			got, err := e.validate(t, mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, tc.claims))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got.ObjectID != tc.want.ObjectID || got.Name != tc.want.Name || got.TenantID != tc.want.TenantID ||
				got.AppID != tc.want.AppID || got.Subject != tc.want.Subject || !slices.Equal(got.Roles, tc.want.Roles) {
				t.Errorf("Principal = %+v, want %+v", got, tc.want)
			}
			if n := e.jwks.count(); n != 1 {
				t.Errorf("JWKS fetched %d times, want 1", n)
			}
		})
	}
}

// TestValidateRejectsForgedAndInvalidTokens: every case must fail with
// ErrUnauthenticated for the intended reason, never succeed.
func TestValidateRejectsForgedAndInvalidTokens(t *testing.T) {
	t.Parallel()
	k := keys()
	now := baseTime
	good := userClaims(now)
	pkixDER, err := x509.MarshalPKIXPublicKey(&k.signing.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.signing.PublicKey)})

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr string // part of the precise (logged) reason
	}{
		{"alg none", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, signingKID, good)
		}, "signing method none is invalid"},
		{"alg NONE spelled differently", func(t *testing.T) string {
			tok := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, signingKID, good)
			_, rest, _ := strings.Cut(tok, ".")
			return b64([]byte(`{"alg":"NONE","kid":"`+signingKID+`","typ":"JWT"}`)) + "." + rest
		}, "signing method (alg) is unavailable"},
		{"HS256 keyed with the public key PEM (PKIX)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodHS256, publicPEM, signingKID, good)
		}, "signing method HS256 is invalid"},
		{"HS256 keyed with the public key PEM (PKCS#1)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodHS256, pkcs1PEM, signingKID, good)
		}, "signing method HS256 is invalid"},
		{"HS256 keyed with the modulus bytes", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodHS256, k.signing.N.Bytes(), signingKID, good)
		}, "signing method HS256 is invalid"},
		{"HS256 keyed with the public key DER", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodHS256, pkixDER, signingKID, good)
		}, "signing method HS256 is invalid"},
		{"RS384 signed by the real key", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS384, k.signing, signingKID, good)
		}, "signing method RS384 is invalid"},
		{"PS256 signed by the real key", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodPS256, k.signing, signingKID, good)
		}, "signing method PS256 is invalid"},
		{"ES256", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodES256, k.ec, signingKID, good)
		}, "signing method ES256 is invalid"},
		{"alg in lower case", func(t *testing.T) string {
			return mintRaw(t, map[string]any{"alg": "rs256", "kid": signingKID}, good, k.signing)
		}, "signing method (alg) is unavailable"},
		{"RS256 by an unknown key with a known kid", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.attacker, signingKID, good)
		}, "verification error"},
		{"payload tampered after signing", func(t *testing.T) string {
			tok := mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "roles", []string{auth.RoleRead}))
			forged := mint(t, jwt.SigningMethodRS256, k.attacker, signingKID, good)
			parts, forgedParts := strings.Split(tok, "."), strings.Split(forged, ".")
			return parts[0] + "." + forgedParts[1] + "." + parts[2]
		}, "verification error"},
		{"signature stripped", func(t *testing.T) string {
			tok := mint(t, jwt.SigningMethodRS256, k.signing, signingKID, good)
			return tok[:strings.LastIndex(tok, ".")+1]
		}, "verification error"},
		{"missing kid", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, "", good)
		}, "kid header missing"},
		{"kid not a string", func(t *testing.T) string {
			return mintRaw(t, map[string]any{"alg": "RS256", "kid": 1}, good, k.signing)
		}, "kid header missing or not a string"},
		{"crit header", func(t *testing.T) string {
			return mintRaw(t, map[string]any{"alg": "RS256", "kid": signingKID, "crit": []string{"exp"}, "exp": 1}, good, k.signing)
		}, "crit header not supported"},
		{"wrong audience", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "aud", "api://another-api"))
		}, "invalid audience"},
		{"audience of Microsoft Graph", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "aud", "00000003-0000-0000-c000-000000000000"))
		}, "invalid audience"},
		{"missing audience", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "aud", nil))
		}, "aud claim is required"},
		{"wrong issuer: another tenant (same Entra keys)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID,
				with(good, "iss", "https://login.microsoftonline.com/99999999-0000-0000-0000-000000000000/v2.0"))
		}, "invalid issuer"},
		{"wrong issuer: v1 form of our tenant", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "iss", "https://sts.windows.net/"+tenantID+"/"))
		}, "invalid issuer"},
		{"v2 issuer but the app ID URI as audience (no real v2 token has it)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "aud", appIDURI))
		}, "invalid audience"},
		{"wrong issuer: trailing slash", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "iss", issuer+"/"))
		}, "invalid issuer"},
		{"missing issuer", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "iss", nil))
		}, "iss claim is required"},
		{"expired", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "exp", now.Add(-time.Hour).Unix()))
		}, "token is expired"},
		{"not yet valid (nbf beyond skew)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "nbf", now.Add(10*time.Minute).Unix()))
		}, "token is not valid yet"},
		{"issued in the future (iat beyond skew)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "iat", now.Add(10*time.Minute).Unix()))
		}, "token used before issued"},
		{"missing exp", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "exp", nil))
		}, "exp claim is required"},
		{"exp not a number", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "exp", "tomorrow"))
		}, "malformed"},
		{"roles not an array", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "roles", auth.RoleReadWrite))
		}, "malformed"},
		{"missing oid", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(good, "oid", nil))
		}, "oid claim missing"},
		{"ID token shape (no azp/appid)", func(t *testing.T) string {
			return mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(with(good, "azp", nil), "nonce", "n-0S6_WzA2Mj"))
		}, "azp/appid claim missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token := tc.token(t)
			p, err := e.validate(t, token)
			if err == nil {
				t.Fatalf("Validate accepted the token: %+v", p)
			}
			t.Logf("rejected: %v", err)
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("error %v does not wrap ErrUnauthenticated", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not name the reason %q", err, tc.wantErr)
			}
			if p.ObjectID != "" || p.Roles != nil {
				t.Errorf("rejected token still produced a principal: %+v", p)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "bearer token rejected") {
				t.Errorf("rejection not logged: %s", logs)
			}
			if sig := token[strings.LastIndex(token, ".")+1:]; len(sig) > 8 && strings.Contains(logs, sig) {
				t.Errorf("log contains the token signature")
			}
		})
	}
}

// TestValidateRejectsMalformedBeforeAnyFetch: garbage is refused without
// touching the network.
func TestValidateRejectsMalformedBeforeAnyFetch(t *testing.T) {
	t.Parallel()
	valid := mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, userClaims(baseTime))
	hugeClaims := with(userClaims(baseTime), "padding", strings.Repeat("A", auth.MaxTokenBytes))
	tests := []struct {
		name    string
		token   string
		wantErr string
		wantIs  error
	}{
		{"empty", "", "no bearer token", auth.ErrNoToken},
		{"one segment", "abc", "segments", auth.ErrUnauthenticated},
		{"two segments", "abc.def", "segments", auth.ErrUnauthenticated},
		{"JWE (five segments)", "a.b.c.d.e", "segments", auth.ErrUnauthenticated},
		{"JSON serialization", `{"payload":"x","signatures":[]}`, "segments", auth.ErrUnauthenticated},
		{"space inside", strings.Replace(valid, ".", ". ", 1), "not base64url", auth.ErrUnauthenticated},
		{"trailing newline", valid + "\n", "not base64url", auth.ErrUnauthenticated},
		{"standard base64 padding", valid + "==", "not base64url", auth.ErrUnauthenticated},
		{"standard base64 alphabet", strings.Replace(valid, "-", "+", 1) + "+", "not base64url", auth.ErrUnauthenticated},
		{"header not base64", "%%%.e30.sig", "not base64url", auth.ErrUnauthenticated},
		{"header not JSON", b64([]byte("not json")) + ".e30.c2ln", "malformed", auth.ErrUnauthenticated},
		{"empty segments", "..", "malformed", auth.ErrUnauthenticated},
		{"oversize validly signed token", mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, hugeClaims), "exceeds", auth.ErrUnauthenticated},
		{"oversize garbage", strings.Repeat("a", 1<<20) + ".b.c", "exceeds", auth.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p, err := e.validate(t, tc.token)
			if err == nil {
				t.Fatalf("Validate accepted %q: %+v", tc.name, p)
			}
			if !errors.Is(err, tc.wantIs) || !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("error %v: want errors.Is %v and ErrUnauthenticated", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if n := e.jwks.count(); n != 0 {
				t.Errorf("JWKS fetched %d times for a malformed token, want 0", n)
			}
		})
	}
}

// TestSkewBoundaries pins the exact edges of exp/nbf/iat with ClockSkew.
func TestSkewBoundaries(t *testing.T) {
	t.Parallel()
	const skew = 30 * time.Second
	now := baseTime
	tests := []struct {
		name    string
		claim   string
		at      time.Time
		wantErr string // "" = accepted
	}{
		{"exp just inside skew", "exp", now.Add(-skew + time.Second), ""},
		{"exp exactly at skew edge", "exp", now.Add(-skew), "token is expired"},
		{"exp beyond skew", "exp", now.Add(-skew - time.Second), "token is expired"},
		{"nbf exactly at skew edge", "nbf", now.Add(skew), ""},
		{"nbf beyond skew", "nbf", now.Add(skew + time.Second), "token is not valid yet"},
		{"iat exactly at skew edge", "iat", now.Add(skew), ""},
		{"iat beyond skew", "iat", now.Add(skew + time.Second), "token used before issued"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *auth.Config) { c.ClockSkew = skew })
			claims := with(userClaims(now), tc.claim, tc.at.Unix())
			_, err := e.validate(t, mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, claims))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("want accepted, got %v", err)
			case tc.wantErr != "" && (err == nil || !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want ErrUnauthenticated containing %q, got %v", tc.wantErr, err)
			}
			if tc.claim == "exp" && tc.wantErr != "" && !errors.Is(err, auth.ErrTokenExpired) {
				t.Errorf("expired token error %v does not wrap ErrTokenExpired", err)
			}
		})
	}
}

func TestDefaultClockSkewIsSixtySeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		exp    time.Duration
		accept bool
	}{
		{-59 * time.Second, true},
		{-61 * time.Second, false},
	}
	for _, tc := range tests {
		e := newEnv(t) // ClockSkew left zero
		_, err := e.validate(t, mint(t, jwt.SigningMethodRS256, keys().signing, signingKID,
			with(userClaims(baseTime), "exp", baseTime.Add(tc.exp).Unix())))
		if (err == nil) != tc.accept {
			t.Errorf("exp now%s: accepted=%v, want %v (err %v)", tc.exp, err == nil, tc.accept, err)
		}
	}
}

// v1Claims are a v1.0 access token for this API, as Entra issues it while the
// app manifest does not request v2 tokens: iss sts.windows.net, aud the App
// ID URI, appid instead of azp, ver 1.0.
func v1Claims(now time.Time) jwt.MapClaims {
	c := with(with(with(userClaims(now), "iss", "https://sts.windows.net/"+tenantID+"/"), "aud", appIDURI), "azp", nil)
	return with(with(with(c, "appid", callerApp), "appidacr", "0"), "ver", "1.0")
}

// TestValidateRefusesV1TokensNamingTheManifest: a genuine v1 token for this
// API is refused with ErrV1Token (whose challenge names the manifest
// setting); a forged or foreign v1 token gets no such hint.
func TestValidateRefusesV1TokensNamingTheManifest(t *testing.T) {
	t.Parallel()
	now := baseTime
	k := keys()
	tests := []struct {
		name   string
		token  string
		wantV1 bool
	}{
		{"v1 token for the API (aud = App ID URI)", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, v1Claims(now)), true},
		{"v1 token for the API requested by client ID", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(v1Claims(now), "aud", clientID)), true},
		{"v1 issuer without a ver claim", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(v1Claims(now), "ver", nil)), true},
		{"ver 1.0 with the v2 issuer and audience", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(userClaims(now), "ver", "1.0")), true},
		{"v1 token for Microsoft Graph", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(v1Claims(now), "aud", "https://graph.microsoft.com")), false},
		{"v1 token signed by an unknown key", mint(t, jwt.SigningMethodRS256, k.attacker, signingKID, v1Claims(now)), false},
		{"expired v1 token is reported as expired", mint(t, jwt.SigningMethodRS256, k.signing, signingKID, with(v1Claims(now), "exp", now.Add(-time.Hour).Unix())), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p, err := e.validate(t, tc.token)
			if err == nil {
				t.Fatalf("Validate accepted a v1 token: %+v", p)
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("error %v does not wrap ErrUnauthenticated", err)
			}
			if got := errors.Is(err, auth.ErrV1Token); got != tc.wantV1 {
				t.Errorf("errors.Is(%v, ErrV1Token) = %v, want %v", err, got, tc.wantV1)
			}
			challenge := auth.WWWAuthenticate("admin", err)
			if names := strings.Contains(challenge, "requestedAccessTokenVersion: 2"); names != tc.wantV1 {
				t.Errorf("challenge %q names the manifest setting: %v, want %v", challenge, names, tc.wantV1)
			}
		})
	}
}
