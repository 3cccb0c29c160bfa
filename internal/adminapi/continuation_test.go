package adminapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// Crafted continuation tokens (well-formed base64 of a listing's kind with
// parts Table Storage would refuse as NextPartitionKey/NextRowKey) are a 400
// naming the parameter in every paged listing, never a 500 (issue 11,
// item 10).
func TestCraftedContinuationTokensAre400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.provision("Contoso Ltd", "contoso.com", "eu")
	tok := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }
	for _, c := range []struct{ path, token string }{
		{"/api/admin/rejections", tok("rejections\n\n1!8!x'y\nrk")},
		{"/api/admin/rejections", tok("rejections\n\npk\n\x7f")},
		{"/api/admin/revalidation-runs", tok("runs\n\nrun s\nrk")},
		{"/api/admin/tenants/" + created.TenantID + "/events", tok("audit\n" + created.TenantID + "\npk\u00e9\nrk")},
		{"/api/admin/tenants", tok("tenants\nx' or PartitionKey ne '")},
	} {
		p := e.do(request{method: "GET", path: c.path + "?continuation=" + c.token, token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest)
		if !slices.Contains(p.fields(), "continuation") {
			t.Errorf("%s: problem names %v, want continuation", c.path, p.fields())
		}
	}
}
