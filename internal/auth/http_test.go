package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	token := mint(t, jwt.SigningMethodRS256, keys().signing, signingKID, userClaims(baseTime))
	tests := []struct {
		name    string
		headers []string // Authorization header values
		wantOK  bool
		wantIs  error
	}{
		{"Bearer", []string{"Bearer " + token}, true, nil},
		{"lower-case scheme", []string{"bearer " + token}, true, nil},
		{"upper-case scheme", []string{"BEARER " + token}, true, nil},
		{"extra spaces", []string{"  Bearer   " + token + " "}, true, nil},
		{"no header", nil, false, auth.ErrNoToken},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, false, auth.ErrNoToken},
		{"scheme only", []string{"Bearer"}, false, auth.ErrUnauthenticated},
		{"scheme and blank", []string{"Bearer    "}, false, auth.ErrUnauthenticated},
		{"two tokens", []string{"Bearer " + token + " " + token}, false, auth.ErrUnauthenticated},
		{"two Authorization headers", []string{"Bearer " + token, "Bearer " + token}, false, auth.ErrUnauthenticated},
		{"scheme glued to token", []string{"Bearer" + token}, false, auth.ErrNoToken},
		{"forged token", []string{"Bearer " + mint(t, jwt.SigningMethodRS256, keys().attacker, signingKID, userClaims(baseTime))}, false, auth.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := httptest.NewRequest(http.MethodGet, "/api/admin/tenants", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			p, err := e.v.Authenticate(r)
			if tc.wantOK {
				if err != nil || p.ObjectID != userOID {
					t.Fatalf("Authenticate = %+v, %v; want principal %s", p, err, userOID)
				}
				return
			}
			if err == nil {
				t.Fatalf("Authenticate accepted: %+v", p)
			}
			if !errors.Is(err, tc.wantIs) || !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("err = %v, want errors.Is %v and ErrUnauthenticated", err, tc.wantIs)
			}
			if tc.wantIs == auth.ErrUnauthenticated && errors.Is(err, auth.ErrNoToken) {
				t.Errorf("a presented but bad token was reported as no token: %v", err)
			}
		})
	}
}

func TestHasRoleAndRequire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		roles   []string
		require string
		want    bool
	}{
		{"ReadWrite grants ReadWrite", []string{auth.RoleReadWrite}, auth.RoleReadWrite, true},
		{"ReadWrite implies Read", []string{auth.RoleReadWrite}, auth.RoleRead, true},
		{"Read grants Read", []string{auth.RoleRead}, auth.RoleRead, true},
		{"Read does not imply ReadWrite", []string{auth.RoleRead}, auth.RoleReadWrite, false},
		{"no roles", nil, auth.RoleRead, false},
		{"unrelated role", []string{"Tenants.Admin"}, auth.RoleRead, false},
		{"role values are case-sensitive", []string{"tenants.readwrite"}, auth.RoleRead, false},
		{"prefix is not a match", []string{"Tenants.Read.All"}, auth.RoleRead, false},
		{"empty required role never matches", []string{""}, "", false},
		{"several roles", []string{"Other", auth.RoleRead}, auth.RoleRead, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := auth.Principal{ObjectID: userOID, Roles: tc.roles}
			if got := p.HasRole(tc.require); got != tc.want {
				t.Errorf("HasRole(%q) = %v, want %v", tc.require, got, tc.want)
			}
			err := auth.Require(p, tc.require)
			if tc.want {
				if err != nil {
					t.Errorf("Require(%q) = %v, want nil", tc.require, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrForbidden) {
				t.Fatalf("Require(%q) = %v, want ErrForbidden", tc.require, err)
			}
			if errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("Require error %v must not be ErrUnauthenticated", err)
			}
			var missing *auth.MissingRoleError
			if !errors.As(err, &missing) || missing.Role != tc.require || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.require)) {
				t.Errorf("Require error %v does not name the missing role %q", err, tc.require)
			}
		})
	}
}

func TestWWWAuthenticate(t *testing.T) {
	t.Parallel()
	p := auth.Principal{ObjectID: userOID, Roles: []string{auth.RoleRead}}
	tests := []struct {
		name  string
		realm string
		err   error
		want  string
	}{
		{"no error", "admin", nil, `Bearer realm="admin"`},
		{"no token presented", "admin", auth.ErrNoToken, `Bearer realm="admin"`},
		{"no token, wrapped", "admin", fmt.Errorf("handler: %w", auth.ErrNoToken), `Bearer realm="admin"`},
		{"invalid token", "admin", fmt.Errorf("%w: token signature is invalid", auth.ErrUnauthenticated),
			`Bearer realm="admin", error="invalid_token", error_description="the access token is invalid"`},
		{"keys unavailable looks like any invalid token", "admin", fmt.Errorf("%w: GET JWKS: refused", auth.ErrKeysUnavailable),
			`Bearer realm="admin", error="invalid_token", error_description="the access token is invalid"`},
		{"expired", "admin", fmt.Errorf("%w: token is expired", auth.ErrTokenExpired),
			`Bearer realm="admin", error="invalid_token", error_description="the access token expired"`},
		{"v1 token names the manifest setting", "admin", fmt.Errorf("%w: iss https://sts.windows.net/x/", auth.ErrV1Token),
			`Bearer realm="admin", error="invalid_token", error_description="v1.0 access tokens are not accepted: the admin API app registration must issue v2.0 tokens; ` +
				`set requestedAccessTokenVersion: 2 in its app manifest (api.requestedAccessTokenVersion; accessTokenAcceptedVersion in the legacy manifest)"`},
		{"missing role", "admin", auth.Require(p, auth.RoleReadWrite),
			`Bearer realm="admin", error="insufficient_scope", error_description="the token lacks the app role Tenants.ReadWrite"`},
		{"bare ErrForbidden", "admin", auth.ErrForbidden,
			`Bearer realm="admin", error="insufficient_scope", error_description="the token lacks a required app role"`},
		{"unrelated error gets a bare challenge", "admin", errors.New("boom"), `Bearer realm="admin"`},
		{"realm with quote, backslash and CRLF cannot inject", "a\"b\\c\r\nSet-Cookie: x=1", nil,
			`Bearer realm="a'b'c??Set-Cookie: x=1"`},
		{"role name with quotes is sanitised", "admin", auth.Require(p, "x\", error=\"none"),
			`Bearer realm="admin", error="insufficient_scope", error_description="the token lacks the app role x', error='none"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := auth.WWWAuthenticate(tc.realm, tc.err)
			if got != tc.want {
				t.Errorf("WWWAuthenticate =\n  %s\nwant\n  %s", got, tc.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("header value contains CR/LF: %q", got)
			}
		})
	}
}

func TestNewValidatorConfig(t *testing.T) {
	t.Parallel()
	valid := func() auth.Config {
		return auth.Config{
			Issuer:   issuer,
			ClientID: clientID,
			AppIDURI: appIDURI,
			JWKSURL:  "https://login.microsoftonline.com/" + tenantID + "/discovery/v2.0/keys",
		}
	}
	tests := []struct {
		name    string
		mutate  func(*auth.Config)
		wantErr string // "" = valid
	}{
		{"valid https", func(*auth.Config) {}, ""},
		{"loopback http", func(c *auth.Config) { c.JWKSURL = "http://127.0.0.1:1/keys" }, ""},
		{"localhost http", func(c *auth.Config) { c.JWKSURL = "http://localhost:1/keys" }, ""},
		{"IPv6 loopback http", func(c *auth.Config) { c.JWKSURL = "http://[::1]:1/keys" }, ""},
		{"missing issuer", func(c *auth.Config) { c.Issuer = " " }, "Issuer is required"},
		{"no app ID URI (optional)", func(c *auth.Config) { c.AppIDURI = "" }, ""},
		{"no client ID", func(c *auth.Config) { c.ClientID = "" }, "must be the admin API app's client ID (a GUID)"},
		{"app ID URI as client ID", func(c *auth.Config) { c.ClientID = appIDURI }, "must be the admin API app's client ID (a GUID)"},
		{"missing JWKS URL", func(c *auth.Config) { c.JWKSURL = "" }, "not an absolute URL"},
		{"relative JWKS URL", func(c *auth.Config) { c.JWKSURL = "/keys" }, "not an absolute URL"},
		{"plain http to a remote host", func(c *auth.Config) { c.JWKSURL = "http://login.microsoftonline.com/keys" }, "must use https"},
		{"other scheme", func(c *auth.Config) { c.JWKSURL = "file://localhost/etc/keys" }, "must use https"},
		{"negative skew", func(c *auth.Config) { c.ClockSkew = -1 }, "ClockSkew"},
		{"huge skew", func(c *auth.Config) { c.ClockSkew = 24 * 60 * 60 * 1e9 }, "ClockSkew"},
		{"negative refresh interval", func(c *auth.Config) { c.MinRefreshInterval = -1 }, "must not be negative"},
		{"TTL shorter than refresh interval", func(c *auth.Config) { c.CacheTTL = 1e9; c.MinRefreshInterval = 2e9 }, "shorter than MinRefreshInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			tc.mutate(&cfg)
			v, err := auth.NewValidator(cfg)
			if tc.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewValidator = %v, %v; want a validator", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewValidator error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
