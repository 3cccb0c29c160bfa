package graph

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	coreauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
)

// graphRetryDelaySeconds is the kiota backoff base when Graph sends no Retry-After.
const graphRetryDelaySeconds = 1

// sdkOptions mirror msgraph-sdk-go's own client options (its root package,
// which we do not import, holds the same values) for the SdkVersion header.
func sdkOptions() core.GraphClientOptions {
	return core.GraphClientOptions{GraphServiceLibraryVersion: "1.96.0"}
}

// graphClient holds what every per-tenant request adapter shares: the
// middleware pipeline, the (de)serializers and the Graph endpoint.
type graphClient struct {
	baseURL    string   // e.g. https://graph.microsoft.com/v1.0
	validHosts []string // hosts the auth provider sends our token to
	httpClient *http.Client
	parse      absser.ParseNodeFactory
	write      absser.SerializationWriterFactory
}

func newGraphClient(creds *Credentials, baseURL string) (*graphClient, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("graph base URL %q is not an absolute URL", baseURL)
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(host)) {
		return nil, fmt.Errorf("graph base URL %q: https required (plain http only for loopback)", baseURL)
	}
	parent := http.DefaultTransport
	if hc := creds.opts.HTTPClient; hc != nil && hc.Transport != nil {
		parent = hc.Transport
	}
	retries := creds.opts.MaxRetries
	telemetry := sdkOptions()
	middlewares := []khttp.Middleware{
		core.NewGraphTelemetryHandler(&telemetry),
		khttp.NewUserAgentHandler(),
		khttp.NewParametersNameDecodingHandler(), // %24select -> $select
		// No compression handler: bodies are small and gzip costs CPU per
		// request. No redirect handler: Graph calls we make never redirect,
		// and a bearer token must not follow one.
		khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
			MaxRetries:   max(retries, 1), // kiota reads <1 as its default 3; shouldRetryGraph enforces "none"
			DelaySeconds: graphRetryDelaySeconds,
			ShouldRetry:  shouldRetryGraph(retries),
		}),
	}
	return &graphClient{
		baseURL:    u.String(),
		validHosts: []string{host},
		httpClient: &http.Client{
			Transport: khttp.NewCustomTransportWithParentTransport(parent, middlewares...),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
			// No Timeout: every call runs under a context deadline (callTimeout).
		},
		parse: jsonOnlyParseNodeFactory{jsonser.NewJsonParseNodeFactory()},
		write: jsonser.NewJsonSerializationWriterFactory(),
	}, nil
}

// adapter builds a request adapter authenticating with cred. It is cheap (a
// few small allocations, see BenchmarkAdapter), so it is built per call
// rather than cached beside the credential.
func (g *graphClient) adapter(cred azcore.TokenCredential) (*core.GraphRequestAdapterBase, error) {
	// Valid hosts matter: the provider silently sends no token elsewhere.
	auth, err := coreauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{graphScope}, g.validHosts)
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}
	a, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, sdkOptions(), g.parse, g.write, g.httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	a.SetBaseUrl(g.baseURL)
	return a, nil
}

// pathParams starts request builders at the adapter's base URL. Builders
// made from a raw URL pin it for every child (reference §5 pitfall).
func (g *graphClient) pathParams() map[string]string {
	return map[string]string{"baseurl": g.baseURL}
}

// jsonOnlyParseNodeFactory parses JSON and ignores other bodies, so an HTML
// or plain-text error page from a gateway becomes a status-carrying ApiError
// ("no response body") instead of an opaque "content type not valid".
type jsonOnlyParseNodeFactory struct{ json *jsonser.JsonParseNodeFactory }

func (f jsonOnlyParseNodeFactory) GetValidContentType() (string, error) {
	return f.json.GetValidContentType()
}

func (f jsonOnlyParseNodeFactory) GetRootParseNode(contentType string, content []byte) (absser.ParseNode, error) {
	if contentType != "application/json" {
		return nil, nil
	}
	return f.json.GetRootParseNode(contentType, content)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
