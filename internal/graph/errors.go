package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// AADSTS codes the checks act on (reference identity-graph.md §2).
const (
	// 700016 and 7000229 (app not in tenant) are domain.AppNotInTenant.
	aadAppDisabled      = 7000112 // service principal disabled in tenant
	aadTenantNotFound   = 90002   // tenant gone
	aadInvalidSecret    = 7000215
	aadExpiredSecret    = 7000222
	aadBadAssertionSig  = 700027 // client assertion signature invalid
	aadConditionalAcc   = 53003  // blocked by Conditional Access for workload identities
	aadTenantThrottled  = 90055
	aadNoClientCred     = 7000216 // no client secret/assertion sent: our configuration
	aadAssertionInvalid = 700024  // client assertion invalid (type/time range)
	aadMalformedJWT     = 50027   // client assertion malformed
)

// ourCredentialCodes mean our app credential is wrong: an ops alert, never a
// change to the customer tenant's state.
var ourCredentialCodes = map[int]string{
	aadInvalidSecret:    "invalid client secret",
	aadExpiredSecret:    "expired client secret",
	aadBadAssertionSig:  "client assertion signature invalid",
	aadConditionalAcc:   "blocked by Conditional Access for workload identities",
	aadNoClientCred:     "no client credential sent",
	aadAssertionInvalid: "client assertion invalid",
	aadMalformedJWT:     "client assertion malformed",
}

// tokenError marks a failed token request; assertionErr is set when the
// managed identity behind the federated credential failed first.
type tokenError struct {
	err          error
	assertionErr error
}

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// retryAfterError carries the server's Retry-After through a *domain.Error.
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter lets domain.RetryAfter read the wait without importing this package.
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// RetryAfter is the server's Retry-After carried by a transient error, 0 if none.
func RetryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 0
}

// unavailable builds the transient error, carrying Retry-After when known.
func unavailable(cause error, after time.Duration, format string, args ...any) *domain.Error {
	if after > 0 {
		cause = &retryAfterError{after: after, err: cause}
	}
	return domain.Wrap(domain.CodeUnavailable, cause, format, args...)
}

type failureKind int

const (
	failTransient failureKind = iota
	failRevoked
	failDisabled
	failTenantGone
	failNotFound      // Graph: resource does not exist
	failOurCredential // our app credential (or managed identity) is broken
	failRejected      // a definitive 4xx we have no special meaning for
)

// failure is a classified token or Graph error.
type failure struct {
	kind       failureKind
	status     int    // HTTP status, 0 without a response
	aadsts     int    // first AADSTS code of a token error
	code       string // Graph error code or token "error"
	message    string // short, without trace IDs
	retryAfter time.Duration
	err        error
}

// cause is the error to wrap: it reads as the one-line summary (azidentity's
// own text spans a dozen lines) and still unwraps to the SDK error.
func (f failure) cause() error { return &summarized{summary: f.String(), err: f.err} }

type summarized struct {
	summary string
	err     error
}

func (e *summarized) Error() string { return e.summary }
func (e *summarized) Unwrap() error { return e.err }

func (f failure) String() string {
	var b strings.Builder
	if f.aadsts != 0 {
		fmt.Fprintf(&b, "AADSTS%d", f.aadsts)
	} else if f.code != "" {
		b.WriteString(f.code)
	}
	if f.status != 0 {
		if b.Len() > 0 {
			fmt.Fprintf(&b, " (HTTP %d)", f.status)
		} else {
			fmt.Fprintf(&b, "HTTP %d", f.status)
		}
	}
	if f.message != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(f.message)
	}
	return b.String()
}

// aadErrorBody is the token endpoint's error document.
type aadErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

var (
	aadstsPattern = regexp.MustCompile(`AADSTS(\d+)`)
	aadstsPrefix  = regexp.MustCompile(`^AADSTS\d+:\s*`)
)

// classifyTokenError decides what a failed token request means.
func classifyTokenError(ctx context.Context, err error) failure {
	var te *tokenError
	if errors.As(err, &te) && te.assertionErr != nil {
		return classifyAssertionError(ctx, te.assertionErr)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return failure{kind: failTransient, message: "token request: " + ctxErr.Error(), err: fmt.Errorf("%w: %w", ctxErr, err)}
	}
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		// No answer from the token endpoint: network trouble or timeout.
		return failure{kind: failTransient, message: "token request got no response", err: err}
	}
	resp := afe.RawResponse
	f := failure{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After")), err: err}
	if body, rerr := runtime.Payload(resp); rerr == nil {
		var doc aadErrorBody
		if json.Unmarshal(body, &doc) == nil {
			f.code = doc.Error
			f.message = shortDescription(doc.Description)
			if len(doc.Codes) > 0 {
				f.aadsts = doc.Codes[0]
			} else if m := aadstsPattern.FindStringSubmatch(doc.Description); m != nil {
				f.aadsts, _ = strconv.Atoi(m[1])
			}
		}
	}
	switch {
	case domain.AppNotInTenant(f.aadsts):
		f.kind = failRevoked
	case f.aadsts == aadAppDisabled:
		f.kind = failDisabled
	case f.aadsts == aadTenantNotFound:
		f.kind = failTenantGone
	case ourCredentialCodes[f.aadsts] != "":
		f.kind = failOurCredential
	case f.aadsts == aadTenantThrottled || transientStatus(f.status):
		f.kind = failTransient
	default:
		f.kind = failRejected
	}
	return f
}

// classifyAssertionError: the managed identity failed before Entra saw our
// request. A 4xx from it is our configuration; anything else may pass.
func classifyAssertionError(ctx context.Context, err error) failure {
	f := failure{kind: failTransient, message: "managed identity token for the federated credential failed", err: err}
	if ctx.Err() != nil {
		return f
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		f.status = afe.RawResponse.StatusCode
		f.retryAfter = parseRetryAfter(afe.RawResponse.Header.Get("Retry-After"))
		if f.status >= 400 && f.status < 500 && !transientStatus(f.status) {
			f.kind = failOurCredential
		}
	}
	return f
}

// classifyGraphError decides what a failed Graph request means.
func classifyGraphError(ctx context.Context, err error) failure {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return failure{kind: failTransient, message: "graph request: " + ctxErr.Error(), err: fmt.Errorf("%w: %w", ctxErr, err)}
	}
	var apiErr abs.ApiErrorable
	if !errors.As(err, &apiErr) {
		// Transport errors (connection refused, reset, timeouts) come as
		// *url.Error from the http client; anything else is a local bug.
		kind := failTransient
		if !isTransportError(err) {
			kind = failRejected
		}
		return failure{kind: kind, message: err.Error(), err: err}
	}
	f := failure{status: apiErr.GetStatusCode(), err: err}
	if h := apiErr.GetResponseHeaders(); h != nil {
		if v := h.Get("Retry-After"); len(v) > 0 {
			f.retryAfter = parseRetryAfter(v[0])
		}
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		if main := oe.GetErrorEscaped(); main != nil {
			f.code = deref(main.GetCode())
			f.message = deref(main.GetMessage())
		}
	}
	if f.message == "" {
		f.message = err.Error()
	}
	switch {
	case transientStatus(f.status):
		f.kind = failTransient
	case f.status == http.StatusNotFound && f.code == "Request_ResourceNotFound":
		f.kind = failNotFound
	default:
		f.kind = failRejected
	}
	return f
}

func isTransportError(err error) bool {
	var ue interface{ Timeout() bool } // *url.Error, net.Error
	return errors.As(err, &ue)
}

func transientStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or past.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// shortDescription drops the "AADSTSnnn: " prefix (the code is reported on
// its own) and the trace/correlation suffix Entra appends.
func shortDescription(d string) string {
	if i := strings.Index(d, " Trace ID:"); i >= 0 {
		d = d[:i]
	}
	if loc := aadstsPrefix.FindStringIndex(d); loc != nil {
		d = d[loc[1]:]
	}
	return strings.TrimSpace(d)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var retriableTokenStatus = map[int]bool{
	http.StatusRequestTimeout: true, http.StatusTooManyRequests: true, http.StatusInternalServerError: true,
	http.StatusBadGateway: true, http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true,
}

// shouldRetryToken is azcore's default status list plus one rule: do not
// start a Retry-After wait the caller's deadline cannot cover, so the caller
// gets the 429 and its Retry-After instead of a bare deadline error.
func shouldRetryToken(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	if !retriableTokenStatus[resp.StatusCode] {
		return false
	}
	if resp.Request == nil {
		return true
	}
	return waitFits(resp.Request.Context(), parseRetryAfter(resp.Header.Get("Retry-After")))
}

// shouldRetryGraph is the kiota retry predicate (kiota already limits it to
// 429/503/504 and MaxRetries); same deadline rule as shouldRetryToken.
func shouldRetryGraph(retries int) func(time.Duration, int, *http.Request, *http.Response) bool {
	return func(_ time.Duration, executions int, req *http.Request, resp *http.Response) bool {
		if retries < 0 {
			return false
		}
		wait := parseRetryAfter(resp.Header.Get("Retry-After"))
		if wait == 0 {
			wait = time.Duration(graphRetryDelaySeconds<<executions) * time.Second // kiota's backoff, without jitter
		}
		return waitFits(req.Context(), wait)
	}
}

func waitFits(ctx context.Context, wait time.Duration) bool {
	if wait > maxRetryWait {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= wait
}
