package adminapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// specDoc is the served document, decoded.
func specDoc(t *testing.T) map[string]any {
	t.Helper()
	raw, err := OpenAPIJSON()
	if err != nil {
		t.Fatalf("OpenAPIJSON: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("served document is not JSON: %v", err)
	}
	return doc
}

var specMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestRoutesMatchSpec fails when the route table serves an operation the
// document lacks, the document describes one the table lacks, or the two
// disagree on the app role.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := specDoc(t)
	paths, _ := doc["paths"].(map[string]any)
	servers, _ := doc["servers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("want one server (the base path), got %v", servers)
	}
	base := fmt.Sprint(servers[0].(map[string]any)["url"])
	if base+"/" != Prefix {
		t.Fatalf("server url %q does not match Prefix %q", base, Prefix)
	}
	inSpec := map[string]string{} // "METHOD path" -> role ("" anonymous)
	for path, item := range paths {
		path = base + path
		ops, _ := item.(map[string]any)
		for _, m := range specMethods {
			op, ok := ops[m].(map[string]any)
			if !ok {
				continue
			}
			inSpec[strings.ToUpper(m)+" "+path] = operationRole(t, doc, op, strings.ToUpper(m)+" "+path)
		}
	}
	inRoutes := map[string]string{}
	for _, rt := range routes {
		inRoutes[rt.method+" "+rt.pattern] = rt.role
	}
	for k, role := range inRoutes {
		specRole, ok := inSpec[k]
		if !ok {
			t.Errorf("route %s is served but not in openapi.yaml", k)
			continue
		}
		if specRole != role {
			t.Errorf("%s: route needs role %q, document says %q", k, role, specRole)
		}
	}
	for k := range inSpec {
		if _, ok := inRoutes[k]; !ok {
			t.Errorf("openapi.yaml describes %s, which no route serves", k)
		}
	}
	if len(inRoutes) != len(routes) {
		t.Errorf("route table has duplicates: %d routes, %d distinct", len(routes), len(inRoutes))
	}
}

// operationRole reads the operation's security requirement: [] is
// anonymous, [{entraId: [role]}] names the role.
func operationRole(t *testing.T, doc map[string]any, op map[string]any, name string) string {
	t.Helper()
	sec, ok := op["security"].([]any)
	if !ok {
		t.Errorf("%s has no security requirement of its own", name)
		return "?"
	}
	if len(sec) == 0 {
		return ""
	}
	if len(sec) != 1 {
		t.Errorf("%s: want one security requirement, got %v", name, sec)
		return "?"
	}
	req, _ := sec[0].(map[string]any)
	roles, _ := req["entraId"].([]any)
	if len(req) != 1 || len(roles) != 1 {
		t.Errorf("%s: want {entraId: [role]}, got %v", name, req)
		return "?"
	}
	return fmt.Sprint(roles[0])
}

// TestRouteRoles: reads need Tenants.Read, everything else Tenants.ReadWrite;
// only the document itself is anonymous.
func TestRouteRoles(t *testing.T) {
	t.Parallel()
	for _, rt := range routes {
		want := auth.RoleReadWrite
		if rt.method == http.MethodGet {
			want = auth.RoleRead
		}
		if rt.pattern == Prefix+"openapi.json" {
			want = ""
		}
		if rt.role != want {
			t.Errorf("%s %s: role %q, want %q", rt.method, rt.pattern, rt.role, want)
		}
	}
}

// specValidator builds the libopenapi validator for the served document
// once per test binary.
var specValidator = sync.OnceValues(func() (validator.Validator, error) {
	raw, err := OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("libopenapi: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("build validator: %v", errs)
	}
	return v, nil
})

// TestSpecIsValidOpenAPI31 validates the served document against the
// OpenAPI 3.1 schema with libopenapi-validator.
func TestSpecIsValidOpenAPI31(t *testing.T) {
	t.Parallel()
	doc := specDoc(t)
	if v := doc["openapi"]; v != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", v)
	}
	v, err := specValidator()
	if err != nil {
		t.Fatal(err)
	}
	ok, errs := v.ValidateDocument()
	if !ok || len(errs) > 0 {
		t.Fatalf("document invalid:\n%s", describeValidation(errs))
	}
}

func describeValidation(errs []*verrors.ValidationError) string {
	var lines []string
	for _, e := range errs {
		line := fmt.Sprintf("- %s: %s (line %d)", e.Message, e.Reason, e.SpecLine)
		for _, s := range e.SchemaValidationErrors {
			line += fmt.Sprintf("\n    %s %s: %s", s.FieldPath, s.KeywordLocation, s.Reason)
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestResponseCheckCatchesDrift proves the per-response spec check the
// integration tests run is live: undocumented fields, missing fields and
// wrong media types fail it.
func TestResponseCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	v, err := specValidator()
	if err != nil {
		t.Fatal(err)
	}
	id := "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	tenant := viewTenant(&domain.Tenant{TenantID: id, Status: domain.StatusProvisioned, CustomerName: "Contoso", Region: "eu",
		AppID: id, TenantKey: "123456789@eu.example", TenantKeyCode: "123456789", InstructionURI: "https://join.example/eu/123456789", ETag: "x"})
	good, _ := json.Marshal(tenant)
	var withSecret map[string]any
	_ = json.Unmarshal(good, &withSecret)
	withSecret["inviteHash"] = "abc"
	leaky, _ := json.Marshal(withSecret)
	delete(withSecret, "inviteHash")
	delete(withSecret, "tenantKey")
	missing, _ := json.Marshal(withSecret)
	cases := []struct {
		name, contentType string
		body              []byte
		ok                bool
	}{
		{"documented tenant", "application/json", good, true},
		{"undocumented field", "application/json", leaky, false},
		{"required field missing", "application/json", missing, false},
		{"problem instead of tenant", "application/problem+json", []byte(`{"type":"urn:x","title":"t","status":200}`), false},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, "/api/admin/tenants/"+id, nil)
		resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {tc.contentType}, "Etag": {`"eA"`}},
			Body: io.NopCloser(bytes.NewReader(tc.body))}
		specMu.Lock()
		ok, errs := v.ValidateHttpResponse(req, resp)
		specMu.Unlock()
		if ok != tc.ok {
			t.Errorf("%s: valid=%v, want %v\n%s", tc.name, ok, tc.ok, describeValidation(errs))
		}
	}
}
