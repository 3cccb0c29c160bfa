package adminapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// MaxBodyBytes caps request bodies (the provisioning message limit).
const MaxBodyBytes = domain.MaxMessageBytes

// readBody enforces Content-Type (415) and the size cap (413) and returns
// the body; nil when the route's body is optional and none was sent.
//
// The Functions host forwards a request body only when it has a
// Content-Length: a chunked body is dropped together with its Content-Type
// (reference/functions-custom-handler.md §4, [HOST] HttpRequestExtensions.cs).
// So an empty body is checked before the Content-Type, and a route that
// needs one answers 400 saying the body is missing and how to send it,
// rather than a puzzling 415.
func readBody(c *call) ([]byte, error) {
	if c.r.ContentLength > MaxBodyBytes {
		return nil, tooLarge(c.r.ContentLength)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge(-1)
	case err != nil:
		return nil, domain.Wrap(domain.CodeInvalid, err, "reading the request body failed")
	}
	ct := c.r.Header.Get("Content-Type")
	if len(body) == 0 {
		// A chunked request that reached us empty lost its body on the way.
		lost := slices.Contains(c.r.TransferEncoding, "chunked")
		if c.route.body == bodyRequired || lost {
			return nil, missingBody(c.r.Method)
		}
		return nil, nil
	}
	if err := checkContentType(ct, c.r.Method == http.MethodPatch); err != nil {
		return nil, err
	}
	return body, nil
}

// missingBody is the 400 for a request without the body it needs (or whose
// body was dropped in transit).
func missingBody(method string) error {
	return domain.FieldError("(body)", "is missing: %s needs a JSON object body sent with a Content-Length header "+
		"(the Functions host drops request bodies sent with chunked transfer encoding, together with their Content-Type)", method)
}

func tooLarge(n int64) error {
	detail := fmt.Sprintf("request bodies are limited to %d bytes", MaxBodyBytes)
	if n > 0 {
		detail = fmt.Sprintf("the body is %d bytes; ", n) + detail
	}
	return httpError{status: http.StatusRequestEntityTooLarge, kind: "payload-too-large", title: "Content too large", detail: detail}
}

// checkContentType accepts application/json (and, for PATCH,
// application/merge-patch+json), with no charset or charset=utf-8.
func checkContentType(ct string, mergePatch bool) error {
	unsupported := httpError{status: http.StatusUnsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type",
		detail: "send the body as Content-Type: application/json"}
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupported
	}
	if mt != "application/json" && !(mergePatch && mt == "application/merge-patch+json") {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		unsupported.detail = "JSON bodies must be UTF-8"
		return unsupported
	}
	return nil
}

// decodeObject strictly decodes a JSON object: valid UTF-8, no duplicate
// keys, nothing after it. Values are left raw for field-by-field checks.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, domain.FieldError("(body)", "is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, domain.FieldError("(body)", "is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, domain.FieldError("(body)", "must be a JSON object")
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, domain.FieldError("(body)", "is not valid JSON: %v", err)
		}
		key, _ := keyTok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, domain.FieldError(key, "is not valid JSON: %v", err)
		}
		if _, dup := obj[key]; dup {
			return nil, domain.FieldError(key, "appears more than once")
		}
		obj[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return nil, domain.FieldError("(body)", "is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, domain.FieldError("(body)", "has data after the JSON object")
	}
	return obj, nil
}

// unknownFields reports every key of obj that is not in allowed.
func unknownFields(obj map[string]json.RawMessage, allowed ...string) domain.Errors {
	var errs domain.Errors
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			errs = append(errs, domain.FieldError(k, "is not a known field (allowed: %s)", strings.Join(allowed, ", ")))
		}
	}
	return errs
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func decodeString(field string, raw json.RawMessage) (string, error) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		return "", domain.FieldError(field, "must be a string")
	}
	return s, nil
}

func decodeBool(field string, raw json.RawMessage) (bool, error) {
	var b bool
	if isNull(raw) || json.Unmarshal(raw, &b) != nil {
		return false, domain.FieldError(field, "must be true or false")
	}
	return b, nil
}

// reasonBody decodes the optional {"reason": "..."} of lifecycle calls (and
// the empty object revalidate accepts when allowReason is false).
func reasonBody(body []byte, allowReason bool) (string, error) {
	if body == nil {
		return "", nil
	}
	obj, err := decodeObject(body)
	if err != nil {
		return "", err
	}
	allowed := []string{}
	if allowReason {
		allowed = append(allowed, "reason")
	}
	if errs := unknownFields(obj, allowed...); len(errs) > 0 {
		return "", errs.Err()
	}
	raw, ok := obj["reason"]
	if !ok {
		return "", nil
	}
	s, err := decodeString("reason", raw)
	if err != nil {
		return "", err
	}
	if err := domain.ValidateText("reason", s, 0, 500); err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// tenantIDParam validates and normalises the {tenantId} path segment.
func tenantIDParam(c *call) (string, error) {
	return domain.NormalizeTenantID("tenantId", c.r.PathValue("tenantId"))
}

// query checks that only the named parameters are present.
func query(c *call, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return nil, domain.FieldError("(query)", "is not a valid query string")
	}
	var errs domain.Errors
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			errs = append(errs, domain.FieldError(k, "is not a known query parameter (allowed: %s)", strings.Join(allowed, ", ")))
		}
	}
	return q, errs.Err()
}

// Paging limits of every listing.
const (
	defaultPageSize    = 50
	maxPageSize        = 200
	maxContinuationLen = 4096
)

type paging struct {
	size         int
	continuation string
}

// pagingParams reads pageSize and continuation, adding problems to errs.
func pagingParams(q url.Values, errs *domain.Errors) paging {
	p := paging{size: defaultPageSize}
	if vs, ok := q["pageSize"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) > 1 || err != nil || n < 1 || n > maxPageSize {
			*errs = append(*errs, domain.FieldError("pageSize", "must be one whole number from 1 to %d", maxPageSize))
		} else {
			p.size = n
		}
	}
	if vs, ok := q["continuation"]; ok {
		if len(vs) > 1 || vs[0] == "" || len(vs[0]) > maxContinuationLen {
			*errs = append(*errs, domain.FieldError("continuation", "must be one token from a previous page"))
		} else {
			p.continuation = vs[0]
		}
	}
	return p
}

// ETags: the store's ETag (Azure's W/"datetime'...'") is opaque to
// clients; HTTP sees it as a strong entity-tag holding its base64url form,
// so If-Match (which compares strongly) works and quoting never clashes.

// httpETag renders a store ETag as an HTTP entity-tag.
func httpETag(storeETag string) string {
	return `"` + base64.RawURLEncoding.EncodeToString([]byte(storeETag)) + `"`
}

// anyETag is what ifMatch returns for If-Match: *.
const anyETag = "*"

// ifMatch parses If-Match into the store ETags it names. A missing header
// is 428. "*" (alone) is returned as anyETag: per RFC 9110 §13.1.1 it
// matches any current representation, so it succeeds for any existing
// tenant and fails (412) only when there is none. Weak or foreign tags
// never match (strong comparison).
func ifMatch(r *http.Request) ([]string, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, httpError{status: http.StatusPreconditionRequired, kind: "precondition-required", title: "Precondition required",
			detail: "send If-Match with the ETag of a GET of this tenant (or * to change whatever version is current)"}
	}
	var tags []string
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == anyETag {
				if len(values) > 1 || strings.TrimSpace(v) != anyETag {
					return nil, domain.FieldError("If-Match", "* must be the whole field value (RFC 9110 §13.1.1)")
				}
				return []string{anyETag}, nil
			}
			if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
				continue
			}
			raw, err := base64.RawURLEncoding.DecodeString(tag[1 : len(tag)-1])
			if err != nil || len(raw) == 0 {
				continue
			}
			tags = append(tags, string(raw))
		}
	}
	return tags, nil
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "encode response")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client left
	return nil
}
