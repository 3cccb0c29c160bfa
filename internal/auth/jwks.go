package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

const (
	maxJWKSBytes = 1 << 20 // Entra's JWKS is a few KiB; anything huge is not a key set
	fetchTimeout = 15 * time.Second
	minRSABits   = 2048
	maxRSABits   = 8192 // bounds verification cost
	maxKIDLen    = 256
)

// keyCache holds the RS256 signing keys of one JWKS URL.
//
// Fetch policy, so tokens with made-up kids cannot make us hammer the JWKS
// endpoint:
//   - a scheduled fetch (cache empty or past its TTL, and the previous fetch
//     succeeded) always runs; each success makes the cache fresh for a TTL,
//     so these happen at most once per TTL;
//   - any other fetch (unknown kid on a fresh cache, or a retry after a failed
//     fetch) runs at most once per minRefresh.
//
// Concurrent callers that need a fetch share one in-flight request.
type keyCache struct {
	url        string
	client     *http.Client
	logger     *slog.Logger
	now        func() time.Time
	minRefresh time.Duration
	ttl        time.Duration

	mu          sync.Mutex
	keys        map[string]*rsa.PublicKey // from the last successful fetch; nil before it
	fetchedAt   time.Time                 // start of the last successful fetch
	lastRefresh time.Time                 // start of the last rate-limited or failed fetch
	lastErr     error                     // outcome of the last fetch
	inflight    *fetchCall
}

// fetchCall is one JWKS fetch that any number of callers wait on.
type fetchCall struct {
	done chan struct{} // closed when err is set
	err  error
}

// key returns the verification key for kid, fetching the JWKS when the cache
// is empty, expired, or lacks kid and the fetch policy allows it.
func (c *keyCache) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	for waited := false; ; waited = true {
		c.mu.Lock()
		now := c.now()
		fresh := c.keys != nil && now.Sub(c.fetchedAt) < c.ttl
		if fresh {
			if k, ok := c.keys[kid]; ok {
				c.mu.Unlock()
				return k, nil
			}
		}
		call := c.inflight
		if call == nil {
			scheduled := !fresh && c.lastErr == nil
			if err := c.refuseFetchLocked(now, fresh, scheduled, waited, kid); err != nil {
				c.mu.Unlock()
				return nil, err
			}
			call = c.startFetchLocked(ctx, now, scheduled)
		}
		c.mu.Unlock()

		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for JWKS fetch: %w", ErrKeysUnavailable, ctx.Err())
		}
		if call.err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, call.err)
		}
	}
}

// refuseFetchLocked says why no fetch may start now, or returns nil.
func (c *keyCache) refuseFetchLocked(now time.Time, fresh, scheduled, waited bool, kid string) error {
	switch {
	case waited && fresh:
		// The fetch we waited for succeeded and still lacks kid.
		return fmt.Errorf("%w: unknown kid %q (not in freshly fetched JWKS)", ErrUnauthenticated, kid)
	case waited:
		return fmt.Errorf("%w: JWKS expired right after fetch (CacheTTL too short?)", ErrKeysUnavailable)
	case scheduled:
		return nil
	}
	since := now.Sub(c.lastRefresh)
	if c.lastRefresh.IsZero() || since >= c.minRefresh {
		return nil
	}
	if fresh {
		return fmt.Errorf("%w: unknown kid %q (JWKS refresh rate-limited: last refresh %s ago)", ErrUnauthenticated, kid, since)
	}
	return fmt.Errorf("%w: no current JWKS and refetch rate-limited (last attempt %s ago): %w", ErrKeysUnavailable, since, c.lastErr)
}

// startFetchLocked starts a fetch detached from the caller's cancellation
// (other callers may be waiting on it) but bounded by fetchTimeout.
func (c *keyCache) startFetchLocked(ctx context.Context, now time.Time, scheduled bool) *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	c.inflight = call
	if !scheduled {
		c.lastRefresh = now
	}
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	go func() {
		defer cancel()
		keys, skipped, err := c.fetch(fetchCtx)

		c.mu.Lock()
		if err == nil {
			c.keys = keys
			c.fetchedAt = now
		} else {
			c.lastRefresh = now // retries after a failure are rate-limited too
		}
		c.lastErr = err
		c.inflight = nil
		call.err = err
		c.mu.Unlock()
		close(call.done)

		if err != nil {
			c.logger.ErrorContext(fetchCtx, "JWKS fetch failed", "url", c.url, "error", err)
			return
		}
		c.logger.InfoContext(fetchCtx, "JWKS fetched", "url", c.url, "keys", len(keys), "skipped", skipped)
	}()
	return call
}

// fetch downloads and parses the JWKS.
func (c *keyCache) fetch(ctx context.Context) (map[string]*rsa.PublicKey, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("build JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET JWKS: unexpected status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read JWKS body: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("JWKS body exceeds %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// parseJWKS keeps the usable RS256 signature keys and reports why the others
// were skipped. A set without any usable key is an error, so a broken
// response never replaces a good cache.
func parseJWKS(body []byte) (keys map[string]*rsa.PublicKey, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys = make(map[string]*rsa.PublicKey, len(doc.Keys))
	for i, raw := range doc.Keys {
		kid, pub, err := parseSigningKey(raw)
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
		case keys[kid] != nil:
			skipped = append(skipped, fmt.Sprintf("key %d: duplicate kid %q", i, kid))
		default:
			keys[kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("JWKS has no usable RS256 signing key (%d keys skipped: %v)", len(skipped), skipped)
	}
	return keys, skipped, nil
}

// parseSigningKey accepts only RSA keys meant for signatures (use "sig"),
// compatible with RS256, 2048..8192 bits, with a kid. jwkset checks the key
// material and that x5c/x5t, when present, match n/e.
func parseSigningKey(raw json.RawMessage) (kid string, pub *rsa.PublicKey, err error) {
	defer func() {
		// The JWKS is remote input: a parser bug must not take the process down.
		if r := recover(); r != nil {
			kid, pub, err = "", nil, fmt.Errorf("panic parsing JWK: %v", r)
		}
	}()
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("decode JWK: %w", err)
	}
	switch {
	case m.KTY != jwkset.KtyRSA:
		return "", nil, fmt.Errorf("kty %q is not RSA", m.KTY)
	case m.USE != jwkset.UseSig:
		return "", nil, fmt.Errorf("use %q is not sig", m.USE)
	case m.ALG != "" && m.ALG != jwkset.AlgRS256:
		return "", nil, fmt.Errorf("alg %q is not RS256", m.ALG)
	case len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify):
		return "", nil, errors.New("key_ops lacks verify")
	case m.KID == "" || len(m.KID) > maxKIDLen:
		return "", nil, fmt.Errorf("kid missing or longer than %d bytes", maxKIDLen)
	}
	// Private: false drops any private members a misconfigured server publishes.
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("kid %q: %w", m.KID, err)
	}
	pub, ok := jwk.Key().(*rsa.PublicKey)
	if !ok {
		return "", nil, fmt.Errorf("kid %q: key is %T, not an RSA public key", m.KID, jwk.Key())
	}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return "", nil, fmt.Errorf("kid %q: RSA key of %d bits outside %d..%d", m.KID, bits, minRSABits, maxRSABits)
	}
	return m.KID, pub, nil
}
