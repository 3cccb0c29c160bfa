package tablestore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// classify maps an SDK error to a *domain.Error with context:
// 404 → NotFound, 409 → Conflict, 412 → PreconditionFailed,
// 408/429/5xx and transport failures → Unavailable, other statuses → Internal.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return domain.Wrap(codeOf(err), err, format, args...)
}

func codeOf(err error) domain.Code {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		status := re.StatusCode
		if status == http.StatusAccepted && re.RawResponse != nil {
			// A failed entity-group transaction: the outer response is 202,
			// the failing operation's status is inside the multipart body.
			if inner, ok := transactionStatus(re.RawResponse); ok {
				status = inner
			}
		}
		return codeOfStatus(status, re.ErrorCode)
	}
	if isTransport(err) {
		return domain.CodeUnavailable
	}
	return domain.CodeInternal
}

func codeOfStatus(status int, errorCode string) domain.Code {
	switch {
	case status == http.StatusNotFound && errorCode == "TableNotFound":
		// The handler creates its tables in the background after the host's
		// readiness probe; a request that arrives first must be retried, not
		// rejected as if the entity were missing.
		return domain.CodeUnavailable
	case status == http.StatusNotFound:
		return domain.CodeNotFound
	case status == http.StatusConflict && errorCode == "TableBeingDeleted":
		return domain.CodeUnavailable
	case status == http.StatusConflict:
		return domain.CodeConflict
	case status == http.StatusPreconditionFailed:
		return domain.CodePreconditionFailed
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return domain.CodeUnavailable
	default:
		// 400 means we sent something the service rejects although our own
		// checks passed (a bug); 401/403 mean a misconfigured identity.
		return domain.CodeInternal
	}
}

// isTransport recognises failures to reach the service: connection refused
// or reset, timeouts, a closed connection, a context that ran out.
func isTransport(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

var innerStatusLine = regexp.MustCompile(`HTTP/1\.[01] (\d{3}) `)

// transactionStatus finds the first failing status inside a batch response.
func transactionStatus(resp *http.Response) (int, bool) {
	body, err := runtime.Payload(resp)
	if err != nil {
		return 0, false
	}
	for _, m := range innerStatusLine.FindAllSubmatch(body, -1) {
		if code, err := strconv.Atoi(string(m[1])); err == nil && code >= 400 {
			return code, true
		}
	}
	return 0, false
}

// isBadRequest reports a 400 from the service.
func isBadRequest(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest
}

func isCode(err error, code domain.Code) bool {
	return err != nil && domain.ErrorCode(err) == code
}
