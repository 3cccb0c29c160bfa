// Package auth validates Microsoft Entra ID bearer access tokens for the
// operator admin API (/api/admin/...) and maps them to a Principal with app
// roles.
//
// Library choice:
//   - github.com/golang-jwt/jwt/v5 parses the JWS and checks signature and the
//     registered claims (exp/nbf/iat with leeway, iss exact, aud = the API's
//     client ID). Only v2.0 tokens are accepted: their aud is always the
//     client ID GUID and their iss the tenant's /v2.0 issuer; a genuine v1.0
//     token for the API (iss https://sts.windows.net/{tid}/, aud the api://
//     URI) is refused with ErrV1Token, whose challenge tells the operator to
//     set requestedAccessTokenVersion: 2 in the app manifest. The
//     algorithm is pinned to RS256 twice: WithValidMethods and a type check in
//     our key function, which only ever returns *rsa.PublicKey, so an HS256
//     token "signed" with the public key can never verify.
//   - github.com/MicahParks/jwkset turns each JWK of the JWKS into a Go key and
//     validates it (x5c/x5t consistent with n/e, registered kty/use/key_ops).
//   - The JWKS cache and fetcher are our own (jwks.go), not
//     github.com/MicahParks/keyfunc/v3, although it is served here: keyfunc
//     fetches at construction and refreshes in a goroutine that needs a
//     lifetime context, falls back to trying every key when a token has no
//     kid, and makes callers wait on its unknown-kid rate limiter instead of
//     failing fast. The brief needs the opposite on each point, and a
//     mutex-guarded cache with one in-flight fetch is small enough to audit.
//
// JWKS fetch policy: the first use and each CacheTTL expiry fetch; an
// unknown kid, or a retry after a failed fetch, fetches at most once per
// MinRefreshInterval; concurrent callers share one in-flight fetch. A failed
// or useless (no usable key) response never replaces the cached keys, and an
// outage fails closed: cached keys are used until CacheTTL, never past it.
//
// Errors: every rejection wraps ErrUnauthenticated with a precise reason
// that is logged; clients get only the coarse RFC 6750 challenge from
// WWWAuthenticate. Besides the brief's checks, a token must carry oid (for
// the audit trail) and azp or appid (access tokens do, ID tokens do not), and
// must not carry a crit header.
package auth
