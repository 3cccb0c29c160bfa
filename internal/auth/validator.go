package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// MaxTokenBytes caps the size of a token we are willing to parse. Entra
// access tokens are 1–4 KiB; group overage keeps them small.
const MaxTokenBytes = 16 << 10

// Defaults for zero Config fields.
const (
	DefaultClockSkew          = 60 * time.Second
	DefaultMinRefreshInterval = time.Minute
	DefaultCacheTTL           = 24 * time.Hour
	defaultHTTPTimeout        = 10 * time.Second
	maxClockSkew              = 5 * time.Minute
)

// Config configures a Validator.
type Config struct {
	// Issuer is compared exactly with iss: the v2.0 issuer
	// https://login.microsoftonline.com/{operatorTenant}/v2.0. Entra signs
	// every tenant's tokens with the same keys, so this check is what keeps
	// other tenants out.
	Issuer string
	// ClientID is the admin API app registration's application (client) ID,
	// the only accepted aud: a v2.0 access token always carries the API's
	// client ID as aud, never its api:// URI (Microsoft identity platform,
	// "Access token claims reference", aud).
	ClientID string
	// AppIDURI is the API's Application ID URI (api://…), optional. It is
	// never accepted as audience; it only lets a v1.0 token issued for this
	// API (aud = the URI) be refused with ErrV1Token, which tells the
	// operator to fix the app manifest, instead of a bare "invalid".
	AppIDURI string
	// JWKSURL is e.g. https://login.microsoftonline.com/{operatorTenant}/discovery/v2.0/keys.
	// It must be https, or http on a loopback host (tests, local sandbox).
	JWKSURL    string
	HTTPClient *http.Client // JWKS fetches; default has a 10s timeout
	ClockSkew  time.Duration
	Now        func() time.Time
	// MinRefreshInterval bounds JWKS fetches to one per interval, so
	// garbage kids cannot make us hammer the JWKS endpoint.
	MinRefreshInterval time.Duration
	CacheTTL           time.Duration // must be >= MinRefreshInterval
	Logger             *slog.Logger
}

// Validator validates Entra ID access tokens. It is safe for concurrent use.
type Validator struct {
	issuer   string
	clientID string
	appIDURI string
	skew     time.Duration
	now      func() time.Time
	logger   *slog.Logger
	keys     *keyCache
}

// NewValidator checks cfg and applies defaults. It does no network I/O; keys
// are fetched on first use.
func NewValidator(cfg Config) (*Validator, error) {
	if strings.TrimSpace(cfg.Issuer) == "" {
		return nil, errors.New("auth config: Issuer is required")
	}
	if !domain.IsGUID(cfg.ClientID) {
		return nil, fmt.Errorf("auth config: ClientID %q must be the admin API app's client ID (a GUID), which v2.0 tokens carry as aud", cfg.ClientID)
	}
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if cfg.ClockSkew < 0 || cfg.ClockSkew > maxClockSkew {
		return nil, fmt.Errorf("auth config: ClockSkew %s outside 0..%s", cfg.ClockSkew, maxClockSkew)
	}
	if cfg.MinRefreshInterval < 0 || cfg.CacheTTL < 0 {
		return nil, errors.New("auth config: MinRefreshInterval and CacheTTL must not be negative")
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheTTL < cfg.MinRefreshInterval {
		return nil, fmt.Errorf("auth config: CacheTTL %s is shorter than MinRefreshInterval %s", cfg.CacheTTL, cfg.MinRefreshInterval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Validator{
		issuer:   cfg.Issuer,
		clientID: strings.ToLower(cfg.ClientID),
		appIDURI: strings.TrimSpace(cfg.AppIDURI),
		skew:     cfg.ClockSkew,
		now:      cfg.Now,
		logger:   cfg.Logger,
		keys: &keyCache{
			url:        cfg.JWKSURL,
			client:     cfg.HTTPClient,
			logger:     cfg.Logger,
			now:        cfg.Now,
			minRefresh: cfg.MinRefreshInterval,
			ttl:        cfg.CacheTTL,
		},
	}, nil
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("JWKSURL: %w", err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("JWKSURL %q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("JWKSURL %q must use https (http only on loopback)", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// entraClaims are the Entra ID access-token claims we use (v1 and v2).
type entraClaims struct {
	jwt.RegisteredClaims
	ObjectID       string   `json:"oid"`
	TenantID       string   `json:"tid"`
	Name           string   `json:"name"`
	AppDisplayName string   `json:"app_displayname"`
	AuthorizedApp  string   `json:"azp"`   // v2
	AppID          string   `json:"appid"` // v1
	Roles          []string `json:"roles"`
	Version        string   `json:"ver"` // "1.0" or "2.0"
}

// Authenticate validates the bearer token of r's Authorization header
// (scheme matched case-insensitively). A missing header or another scheme
// gives ErrNoToken.
func (v *Validator) Authenticate(r *http.Request) (Principal, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return Principal{}, ErrNoToken
	}
	if len(values) > 1 {
		return Principal{}, v.reject(r.Context(), fmt.Errorf("%w: %d Authorization headers", ErrUnauthenticated, len(values)))
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, ErrNoToken
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return Principal{}, v.reject(r.Context(), fmt.Errorf("%w: empty bearer token", ErrUnauthenticated))
	}
	return v.Validate(r.Context(), token)
}

// Validate checks raw as an RS256 Entra ID access token for this API and
// returns its Principal. Errors wrap ErrUnauthenticated and carry the precise
// reason, which is also logged; do not show it to clients.
func (v *Validator) Validate(ctx context.Context, raw string) (Principal, error) {
	p, err := v.validate(ctx, raw)
	if err != nil {
		return Principal{}, v.reject(ctx, err)
	}
	v.logger.DebugContext(ctx, "bearer token accepted", "oid", p.ObjectID, "appid", p.AppID, "roles", p.Roles)
	return p, nil
}

func (v *Validator) reject(ctx context.Context, err error) error {
	level := slog.LevelInfo
	if errors.Is(err, ErrKeysUnavailable) {
		level = slog.LevelError
	}
	v.logger.Log(ctx, level, "bearer token rejected", "reason", err.Error())
	return err
}

func (v *Validator) validate(ctx context.Context, raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, ErrNoToken
	}
	if len(raw) > MaxTokenBytes {
		return Principal{}, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrUnauthenticated, len(raw), MaxTokenBytes)
	}
	if err := checkCompactJWS(raw); err != nil {
		return Principal{}, fmt.Errorf("%w: malformed token: %w", ErrUnauthenticated, err)
	}

	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.clientID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.skew),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	var claims entraClaims
	if _, err := parser.ParseWithClaims(raw, &claims, v.keyFunc(ctx)); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		// Claims are validated only after the signature verified, so only
		// a genuine token gets the v1 hint.
		if errors.Is(err, jwt.ErrTokenInvalidClaims) && v.isV1ForThisAPI(claims) {
			return Principal{}, fmt.Errorf("%w (iss %q, aud %q): %w", ErrV1Token, claims.Issuer, claims.Audience, err)
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if claims.Version == "1.0" {
		return Principal{}, fmt.Errorf("%w: ver claim is 1.0", ErrV1Token)
	}
	return principalFrom(claims)
}

// isV1ForThisAPI reports whether c is a v1.0 access token (ver 1.0, or the
// v1 issuer https://sts.windows.net/{tid}/) issued for this API: aud is the
// App ID URI (what v1 tokens carry) or the client ID. A v1 token for another
// resource (Graph, ARM) is just the wrong token and gets no manifest hint.
func (v *Validator) isV1ForThisAPI(c entraClaims) bool {
	if c.Version != "1.0" && !strings.HasPrefix(c.Issuer, "https://sts.windows.net/") {
		return false
	}
	for _, aud := range c.Audience {
		if strings.EqualFold(aud, v.clientID) || (v.appIDURI != "" && aud == v.appIDURI) {
			return true
		}
	}
	return false
}

// checkCompactJWS rejects anything but three base64url segments before the
// JWT library sees it (JWE has five; JSON serialization is not accepted).
func checkCompactJWS(raw string) error {
	if n := strings.Count(raw, "."); n != 2 {
		return fmt.Errorf("%d segments, want 3", n+1)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("byte %d is not base64url", i)
		}
	}
	return nil
}

// keyFunc returns the JWKS key named by the token's kid. It only ever
// returns *rsa.PublicKey, so non-RSA verification cannot succeed even if the
// method allow-list were bypassed.
func (v *Validator) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("algorithm %q not allowed", t.Method.Alg())
		}
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: we understand no extensions, so must reject.
			return nil, errors.New("crit header not supported")
		}
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("kid header missing or not a string")
		}
		if len(kid) > maxKIDLen {
			return nil, fmt.Errorf("kid longer than %d bytes", maxKIDLen)
		}
		key, err := v.keys.key(ctx, kid)
		if err != nil {
			return nil, err // never a typed-nil key
		}
		return key, nil
	}
}

// principalFrom maps validated claims to a Principal and insists on the
// claims every Entra access token has: oid (who, for the audit trail) and
// azp/appid (which client). ID tokens lack azp/appid, so an ID token that
// happens to name our client ID as audience is rejected here.
func principalFrom(c entraClaims) (Principal, error) {
	if c.ObjectID == "" {
		return Principal{}, fmt.Errorf("%w: oid claim missing", ErrUnauthenticated)
	}
	appID := c.AuthorizedApp
	if appID == "" {
		appID = c.AppID
	}
	if appID == "" {
		return Principal{}, fmt.Errorf("%w: azp/appid claim missing (not an access token)", ErrUnauthenticated)
	}
	name := c.Name
	if name == "" {
		name = c.AppDisplayName
	}
	if name == "" {
		name = appID
	}
	return Principal{
		ObjectID: c.ObjectID,
		Name:     name,
		TenantID: c.TenantID,
		AppID:    appID,
		Roles:    c.Roles,
		Subject:  c.Subject,
	}, nil
}
