package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// problem is an RFC 9457 problem details object; Errors is our extension
// naming every bad field.
type problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []fieldProblem `json:"errors,omitempty"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problemTypeBase prefixes every problem type; the suffixes are listed in
// openapi.yaml (Problem.type).
const problemTypeBase = "urn:onemeeting-cvi:problem:"

// httpError is a problem that arises in the HTTP layer itself (413, 415,
// 428, 404, 405) rather than from the domain.
type httpError struct {
	status int
	kind   string
	title  string
	detail string
}

func (e httpError) Error() string { return e.title + ": " + e.detail }

// authError carries an error of the auth package (401, 403, or 503 when the
// signing keys cannot be fetched).
type authError struct{ err error }

func (e authError) Error() string { return e.err.Error() }
func (e authError) Unwrap() error { return e.err }

// statusOf is the one place where domain error codes become HTTP statuses.
func statusOf(code domain.Code) int {
	switch code {
	case domain.CodeInvalid:
		return http.StatusBadRequest
	case domain.CodeNotFound:
		return http.StatusNotFound
	case domain.CodeConflict:
		return http.StatusConflict
	case domain.CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case domain.CodeForbidden:
		return http.StatusForbidden
	case domain.CodeUnauthenticated:
		return http.StatusUnauthorized
	case domain.CodeGone:
		return http.StatusGone
	case domain.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// kindOf names the problem type of a domain code.
func kindOf(code domain.Code) string {
	switch code {
	case domain.CodeInvalid:
		return "validation"
	case domain.CodeNotFound:
		return "not-found"
	case domain.CodeConflict:
		return "conflict"
	case domain.CodePreconditionFailed:
		return "precondition-failed"
	case domain.CodeForbidden:
		return "forbidden"
	case domain.CodeUnauthenticated:
		return "unauthenticated"
	case domain.CodeGone:
		return "gone"
	case domain.CodeUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// writeError answers with the problem for err. Details of 5xx errors are
// logged, never sent: they may name storage accounts or SDK internals.
func (a *API) writeError(c *call, err error) {
	var p problem
	var ae authError
	var he httpError
	switch {
	case errors.As(err, &ae) && errors.Is(err, auth.ErrKeysUnavailable):
		// The token may be fine: ask the client to retry, not to re-login.
		a.log.ErrorContext(c.ctx, "admin API cannot validate tokens", "err", err)
		c.w.Header().Set("Retry-After", retryAfterSeconds)
		p = problem{Type: problemTypeBase + "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
			Detail: "token signing keys cannot be fetched right now; retry later"}
	case errors.As(err, &ae) && errors.Is(err, auth.ErrForbidden):
		c.w.Header().Set("WWW-Authenticate", auth.WWWAuthenticate(realm, err))
		p = problem{Type: problemTypeBase + "forbidden", Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "the token lacks the app role " + c.route.role}
	case errors.As(err, &ae):
		c.w.Header().Set("WWW-Authenticate", auth.WWWAuthenticate(realm, err))
		p = problem{Type: problemTypeBase + "unauthenticated", Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "a valid Microsoft Entra ID access token for this API is required"}
		if errors.Is(err, auth.ErrV1Token) {
			// The operator's fix is a setting: say it in the body too, where a
			// console or curl user reads it.
			p.Detail = auth.V1TokenDescription
		}
	case errors.As(err, &he):
		p = problem{Type: problemTypeBase + he.kind, Title: he.title, Status: he.status, Detail: he.detail}
	default:
		code := domain.ErrorCode(err)
		p = problem{Type: problemTypeBase + kindOf(code), Status: statusOf(code)}
		p.Title = http.StatusText(p.Status)
		switch code {
		case domain.CodeInvalid:
			p.Title = "Invalid request"
			p.Detail, p.Errors = clientDetail(err), fieldErrors(err)
		case domain.CodeNotFound, domain.CodeConflict, domain.CodeGone, domain.CodeForbidden:
			p.Detail, p.Errors = clientDetail(err), fieldErrors(err)
		case domain.CodePreconditionFailed:
			p.Detail = "the tenant changed since you read it; GET it again for the current ETag and retry"
		case domain.CodeUnavailable:
			a.log.WarnContext(c.ctx, "admin API dependency unavailable", "route", c.route.pattern, "err", err)
			c.w.Header().Set("Retry-After", retryAfterSeconds)
			p.Detail = "a dependency is temporarily unavailable; retry later"
		default:
			a.log.ErrorContext(c.ctx, "admin API internal error", "route", c.route.pattern, "err", err)
			p.Detail = "internal error; it has been logged"
		}
	}
	writeProblem(c.w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + problemTypeBase + `internal","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b) // a failed write means the client left
}

// clientDetail is the message of the domain error(s) in err, without the
// wrapped causes (which may be SDK internals).
func clientDetail(err error) string {
	var es domain.Errors
	if errors.As(err, &es) {
		return es.Error()
	}
	var de *domain.Error
	if errors.As(err, &de) {
		if de.Field != "" {
			return de.Field + ": " + de.Message
		}
		return de.Message
	}
	return ""
}

// fieldErrors lists every field-level problem in err.
func fieldErrors(err error) []fieldProblem {
	var es domain.Errors
	if errors.As(err, &es) {
		out := make([]fieldProblem, 0, len(es))
		for _, e := range es {
			out = append(out, fieldProblem{Field: e.Field, Message: e.Message})
		}
		return out
	}
	var de *domain.Error
	if errors.As(err, &de) && de.Field != "" {
		return []fieldProblem{{Field: de.Field, Message: de.Message}}
	}
	return nil
}
