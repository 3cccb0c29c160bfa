// Package graph is the only package that talks to Microsoft Entra ID and
// Microsoft Graph: it confirms a customer tenant's admin consent to our
// multi-tenant app (token roles + the app's own service principal) and sends
// mail through Graph sendMail. It imports only the msgraph-sdk-go
// subpackages it uses (never the root client, which pulls in every request
// builder of Graph).
package graph

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

const (
	// graphScope is the only scope requested: app-only tokens carry the
	// granted Graph application permissions in their roles claim.
	graphScope = "https://graph.microsoft.com/.default"
	// tokenExchangeScope is the audience of the managed identity token that
	// serves as client assertion (federated identity credential).
	tokenExchangeScope = "api://AzureADTokenExchange/.default"

	defaultCacheSize  = 1024
	defaultMaxRetries = 2
	// maxRetryWait bounds an in-process wait for Retry-After; longer waits
	// go back to the caller (queue redelivery) instead of holding a worker.
	maxRetryWait = 30 * time.Second
)

// tokenRequest must stay identical to what the kiota auth provider asks for
// (it enables CAE): azidentity keeps separate CAE and non-CAE token caches, so
// any difference would cost a second token request per tenant.
var tokenRequest = policy.TokenRequestOptions{Scopes: []string{graphScope}, EnableCAE: true}

// CredentialOptions configure how we authenticate as our multi-tenant app.
type CredentialOptions struct {
	// Mode is config.CredentialFederated, config.CredentialCertificate or config.CredentialSecret.
	Mode string
	// AuthorityHost, e.g. "https://login.microsoftonline.com/" or the sandbox's; "" = public cloud.
	AuthorityHost string
	// ClientSecret is used in secret mode.
	ClientSecret string
	// Certificate is used in certificate mode: PFX (base64-decoded by the caller, no password) or PEM cert+key.
	Certificate []byte
	// ManagedIdentityClientID selects a user-assigned managed identity for
	// federation ("" = system-assigned).
	ManagedIdentityClientID string
	// ManagedIdentity overrides the credential whose api://AzureADTokenExchange
	// token is the client assertion in federated mode (nil: a
	// ManagedIdentityCredential built from ManagedIdentityClientID).
	ManagedIdentity azcore.TokenCredential
	// HTTPClient is the transport for azidentity and Graph (tests:
	// entrasim.HTTPClient() to trust its TLS). nil: the SDK defaults.
	HTTPClient *http.Client
	// CacheSize bounds the LRU of per-(tenant, app) credentials (default 1024).
	CacheSize int
	// MaxRetries applies to token requests (azcore) and Graph requests (kiota
	// retry handler) on 429/5xx: 0 = default 2, negative = no retries.
	MaxRetries int
}

// Credentials hands out one token credential per (tenant, app), created
// lazily and kept in a bounded LRU: each azidentity credential has its own
// token cache and mutex, so tenants never queue behind each other.
type Credentials struct {
	opts    CredentialOptions
	cache   *lru.Cache[credKey, azcore.TokenCredential]
	created atomic.Int64 // credentials constructed, for tests and metrics

	// Exactly one of these is set, per Mode.
	secret     string
	certs      []*x509.Certificate
	certKey    crypto.PrivateKey
	assertFrom azcore.TokenCredential // federated: shared by every tenant's credential
}

type credKey struct{ tenant, app string }

func newCredKey(tenantID, appID string) credKey {
	return credKey{strings.ToLower(strings.TrimSpace(tenantID)), strings.ToLower(strings.TrimSpace(appID))}
}

// NewCredentials validates the options and prepares the shared secret,
// certificate or managed identity. It makes no network calls.
func NewCredentials(o CredentialOptions) (*Credentials, error) {
	if o.CacheSize <= 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = defaultMaxRetries
	}
	if o.AuthorityHost != "" && !strings.HasSuffix(o.AuthorityHost, "/") {
		o.AuthorityHost += "/"
	}
	cache, err := lru.New[credKey, azcore.TokenCredential](o.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("graph credentials: %w", err)
	}
	c := &Credentials{opts: o, cache: cache}
	switch o.Mode {
	case config.CredentialSecret:
		if o.ClientSecret == "" {
			return nil, errors.New("graph credentials: secret mode needs a client secret")
		}
		c.secret = o.ClientSecret
	case config.CredentialCertificate:
		if len(o.Certificate) == 0 {
			return nil, errors.New("graph credentials: certificate mode needs a certificate")
		}
		c.certs, c.certKey, err = azidentity.ParseCertificates(o.Certificate, nil)
		if err != nil {
			return nil, fmt.Errorf("graph credentials: parse certificate: %w", err)
		}
	case config.CredentialFederated:
		c.assertFrom = o.ManagedIdentity
		if c.assertFrom == nil {
			// Only the transport: azidentity picks retry settings suited to
			// the identity endpoint (IMDS retries 404/410) when left zero.
			mo := &azidentity.ManagedIdentityCredentialOptions{}
			if o.HTTPClient != nil {
				mo.Transport = o.HTTPClient
			}
			if o.ManagedIdentityClientID != "" {
				mo.ID = azidentity.ClientID(o.ManagedIdentityClientID)
			}
			if c.assertFrom, err = azidentity.NewManagedIdentityCredential(mo); err != nil {
				return nil, fmt.Errorf("graph credentials: managed identity: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("graph credentials: unknown mode %q (want %s, %s or %s)",
			o.Mode, config.CredentialFederated, config.CredentialCertificate, config.CredentialSecret)
	}
	return c, nil
}

// For returns the credential of appID in tenantID, creating it on first use.
func (c *Credentials) For(tenantID, appID string) (azcore.TokenCredential, error) {
	key := newCredKey(tenantID, appID)
	if cred, ok := c.cache.Get(key); ok {
		return cred, nil
	}
	cred, err := c.newCredential(key)
	if err != nil {
		return nil, err
	}
	// Another goroutine may have raced us; keep the first so both share one token cache.
	if prev, found, _ := c.cache.PeekOrAdd(key, cred); found {
		return prev, nil
	}
	return cred, nil
}

// Forget drops a cached credential so the next use gets a fresh token
// (granted roles may have changed since the cached one was issued).
func (c *Credentials) Forget(tenantID, appID string) {
	c.cache.Remove(newCredKey(tenantID, appID))
}

// Len is the number of cached credentials.
func (c *Credentials) Len() int { return c.cache.Len() }

// Created is the number of credentials constructed since NewCredentials.
func (c *Credentials) Created() int64 { return c.created.Load() }

func (c *Credentials) clientOptions() azcore.ClientOptions {
	co := azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    int32(c.opts.MaxRetries),
			RetryDelay:    800 * time.Millisecond,
			MaxRetryDelay: maxRetryWait,
			ShouldRetry:   shouldRetryToken,
		},
	}
	if c.opts.AuthorityHost != "" {
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: c.opts.AuthorityHost}
	}
	if c.opts.HTTPClient != nil {
		co.Transport = c.opts.HTTPClient
	}
	return co
}

func (c *Credentials) newCredential(key credKey) (azcore.TokenCredential, error) {
	if key.tenant == "" || key.app == "" {
		return nil, domain.Errorf(domain.CodeInvalid, "graph credential needs a tenant and an app ID (got %q, %q)", key.tenant, key.app)
	}
	co := c.clientOptions()
	// Instance discovery asks the public cloud which authorities exist; our
	// authority host is fixed by configuration, and the sandbox is not public.
	const noDiscovery = true
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch {
	case c.secret != "":
		cred, err = azidentity.NewClientSecretCredential(key.tenant, key.app, c.secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	case c.certs != nil:
		cred, err = azidentity.NewClientCertificateCredential(key.tenant, key.app, c.certs, c.certKey,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	default:
		cred, err = azidentity.NewClientAssertionCredential(key.tenant, key.app, c.assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	}
	if err != nil {
		return nil, domain.Wrap(domain.CodeInternal, err, "graph credential for tenant %s app %s", key.tenant, key.app)
	}
	c.created.Add(1)
	return cred, nil
}

// assertion returns the managed identity's token-exchange token. A failure
// is also recorded in the call's context, because azidentity flattens the
// callback's error into its own and the classification needs to know that
// the managed identity, not the customer tenant, failed.
func (c *Credentials) assertion(ctx context.Context) (string, error) {
	tok, err := c.assertFrom.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tokenExchangeScope}})
	if err != nil {
		if sink, ok := ctx.Value(assertionErrKey{}).(*assertionErrSink); ok {
			sink.set(err)
		}
		return "", fmt.Errorf("managed identity token for the federated credential: %w", err)
	}
	return tok.Token, nil
}

type assertionErrKey struct{}

type assertionErrSink struct{ err atomic.Pointer[error] }

func (s *assertionErrSink) set(err error) { s.err.Store(&err) }

func (s *assertionErrSink) get() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// getToken requests the Graph token exactly as the SDK will, and classifies
// a failure (see classifyTokenError).
func getToken(ctx context.Context, cred azcore.TokenCredential) (azcore.AccessToken, error) {
	sink := &assertionErrSink{}
	tok, err := cred.GetToken(context.WithValue(ctx, assertionErrKey{}, sink), tokenRequest)
	if err != nil {
		return tok, &tokenError{err: err, assertionErr: sink.get()}
	}
	return tok, nil
}
