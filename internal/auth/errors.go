package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error from Validate and Authenticate wraps
// ErrUnauthenticated (HTTP 401); Require returns errors wrapping ErrForbidden
// (HTTP 403).
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")

	// ErrNoToken means the request carried no bearer token at all; RFC 6750
	// says the challenge then carries no error code.
	ErrNoToken = fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	// ErrTokenExpired lets clients be told to fetch a new token.
	ErrTokenExpired = fmt.Errorf("%w: token expired", ErrUnauthenticated)
	// ErrV1Token means a genuine v1.0 access token for this API: the app
	// registration still issues v1 tokens, which this API refuses. The fix is
	// in the app manifest, so the challenge says so.
	ErrV1Token = fmt.Errorf("%w: v1.0 access token", ErrUnauthenticated)
	// ErrKeysUnavailable means the signing keys could not be fetched; the
	// token may be fine, so callers may want to alert on it.
	ErrKeysUnavailable = fmt.Errorf("%w: signing keys unavailable", ErrUnauthenticated)
)

// MissingRoleError is returned (wrapped) by Require. It matches ErrForbidden.
type MissingRoleError struct {
	Role string
}

func (e *MissingRoleError) Error() string {
	return fmt.Sprintf("%v: missing app role %q", ErrForbidden, e.Role)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *MissingRoleError) Is(target error) bool { return target == ErrForbidden }

// V1TokenDescription is the error_description for ErrV1Token (RFC 6750
// charset: no quotes or backslashes).
const V1TokenDescription = "v1.0 access tokens are not accepted: the admin API app registration must issue v2.0 tokens; " +
	"set requestedAccessTokenVersion: 2 in its app manifest (api.requestedAccessTokenVersion; accessTokenAcceptedVersion in the legacy manifest)"

// WWWAuthenticate returns the RFC 6750 WWW-Authenticate header value for err:
// a bare challenge when no token was presented (or err is nil),
// error="invalid_token" for a rejected token and error="insufficient_scope"
// for ErrForbidden. Descriptions are deliberately coarse: the precise
// rejection reason is only logged. The one exception is ErrV1Token, whose
// cause is a setting the operator must change.
func WWWAuthenticate(realm string, err error) string {
	challenge := `Bearer realm="` + quoteValue(realm) + `"`
	var missing *MissingRoleError
	switch {
	case err == nil, errors.Is(err, ErrNoToken):
		return challenge
	case errors.As(err, &missing):
		return challenge + `, error="insufficient_scope", error_description="` +
			quoteValue("the token lacks the app role "+missing.Role) + `"`
	case errors.Is(err, ErrForbidden):
		return challenge + `, error="insufficient_scope", error_description="the token lacks a required app role"`
	case errors.Is(err, ErrV1Token):
		return challenge + `, error="invalid_token", error_description="` + V1TokenDescription + `"`
	case errors.Is(err, ErrTokenExpired):
		return challenge + `, error="invalid_token", error_description="the access token expired"`
	case errors.Is(err, ErrUnauthenticated):
		return challenge + `, error="invalid_token", error_description="the access token is invalid"`
	default:
		return challenge
	}
}

// quoteValue makes s safe inside an RFC 7230 quoted-string and within the
// RFC 6750 error_description charset: printable ASCII only, with '"' and '\'
// replaced, so no caller-influenced text can break or inject header syntax.
func quoteValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\'')
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
