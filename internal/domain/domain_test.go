package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const example = `{
  "schemaVersion": 1,
  "requestId": "CRM-2026-000123",
  "tenantId": "3F2B8C1E-6D4A-4B7E-9A51-2C0D7E8F9A10",
  "customerName": "Contoso Ltd",
  "primaryDomain": "Contoso.com",
  "region": "eu",
  "adminIps": ["203.0.113.7", "198.51.100.16/28"],
  "contacts": [
    { "name": "Contoso IT Admin", "email": "it-admin@Contoso.com", "role": "admin" },
    { "name": "Contoso Service Desk", "email": "servicedesk@contoso.com", "role": "technical" }
  ]
}`

func known(code string) bool { return code == "eu" || code == "us" }

func TestDecodeProvisioningExample(t *testing.T) {
	req, err := DecodeProvisioningRequest([]byte(example), IPPolicy{}, known)
	if err != nil {
		t.Fatal(err)
	}
	if req.TenantID != "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10" || req.PrimaryDomain != "contoso.com" {
		t.Errorf("normalisation: %+v", req)
	}
	if got := fmt.Sprint(req.AdminIPs); got != "[203.0.113.7/32 198.51.100.16/28]" {
		t.Errorf("adminIps = %s", got)
	}
	if req.Contacts[0].Email != "it-admin@contoso.com" || req.Contacts[0].Role != RoleAdmin {
		t.Errorf("contacts = %+v", req.Contacts)
	}
}

// Each malformed variant is rejected with the offending field named.
func TestDecodeProvisioningRejects(t *testing.T) {
	mutate := func(old, new string) string {
		if !strings.Contains(example, old) {
			t.Fatalf("example lacks %q", old)
		}
		return strings.Replace(example, old, new, 1)
	}
	cases := []struct{ name, body, field string }{
		{"wrong guid", mutate(`"3F2B8C1E-6D4A-4B7E-9A51-2C0D7E8F9A10"`, `"3f2b8c1e-6d4a-4b7e-9a51"`), "tenantId"},
		{"zero guid", mutate(`"3F2B8C1E-6D4A-4B7E-9A51-2C0D7E8F9A10"`, `"00000000-0000-0000-0000-000000000000"`), "tenantId"},
		{"bad cidr", mutate(`"198.51.100.16/28"`, `"198.51.100.16/33"`), "adminIps[1]"},
		{"host bits", mutate(`"198.51.100.16/28"`, `"198.51.100.17/28"`), "adminIps[1]"},
		{"too broad", mutate(`"198.51.100.16/28"`, `"198.0.0.0/8"`), "adminIps[1]"},
		{"private", mutate(`"203.0.113.7"`, `"10.1.2.3"`), "adminIps[0]"},
		{"loopback", mutate(`"203.0.113.7"`, `"127.0.0.1"`), "adminIps[0]"},
		{"unknown region", mutate(`"eu"`, `"mars"`), "region"},
		{"region syntax", mutate(`"eu"`, `"EU"`), "region"},
		{"no admin", mutate(`"role": "admin"`, `"role": "billing"`), "contacts"},
		{"bad role", mutate(`"role": "admin"`, `"role": "boss"`), "contacts[0].role"},
		{"bad email", mutate(`"it-admin@Contoso.com"`, `"it-admin at contoso"`), "contacts[0].email"},
		{"display-name email", mutate(`"it-admin@Contoso.com"`, `"Admin <a@contoso.com>"`), "contacts[0].email"},
		{"unknown field", mutate(`"region": "eu",`, `"region": "eu", "colour": "blue",`), "colour"},
		{"unknown contact field", mutate(`"role": "technical"`, `"role": "technical", "phone": "1"`), "contacts[1].phone"},
		{"schema version", mutate(`"schemaVersion": 1`, `"schemaVersion": 2`), "schemaVersion"},
		{"schema version string", mutate(`"schemaVersion": 1`, `"schemaVersion": "1"`), "schemaVersion"},
		{"missing requestId", mutate(`"requestId": "CRM-2026-000123",`, ``), "requestId"},
		{"bad requestId", mutate(`"CRM-2026-000123"`, `"CRM 2026/123"`), "requestId"},
		{"null name", mutate(`"Contoso Ltd"`, `null`), "customerName"},
		{"blank name", mutate(`"Contoso Ltd"`, `"   "`), "customerName"},
		{"control char name", mutate(`"Contoso Ltd"`, `"Contoso\nLtd"`), "customerName"},
		{"no ips", mutate(`["203.0.113.7", "198.51.100.16/28"]`, `[]`), "adminIps"},
		{"ips not array", mutate(`["203.0.113.7", "198.51.100.16/28"]`, `"203.0.113.7"`), "adminIps"},
		{"bad domain", mutate(`"Contoso.com"`, `"contoso"`), "primaryDomain"},
		{"duplicate key", mutate(`"region": "eu",`, `"region": "eu", "region": "us",`), "region"},
		{"not object", `[1,2]`, "(body)"},
		{"trailing data", example + `{}`, "(body)"},
		{"invalid utf8", strings.Replace(example, "Contoso Ltd", "Contoso \xff Ltd", 1), "(body)"},
		{"replaced invalid utf8", strings.Replace(example, "Contoso Ltd", "Contoso \ufffd Ltd", 1), "(body)"},
		{"escaped replacement char", strings.Replace(example, "Contoso Ltd", `Contoso \ufffd Ltd`, 1), "customerName"},
		{"too big", `{"pad":"` + strings.Repeat("x", 2<<20) + `"}`, "(body)"},
		{"empty", ``, "(body)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeProvisioningRequest([]byte(tc.body), IPPolicy{}, known)
			if err == nil {
				t.Fatal("accepted")
			}
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("code = %s", ErrorCode(err))
			}
			var fields []string
			var es Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fields = append(fields, e.Field)
				}
			} else {
				fields = append(fields, ErrorField(err))
			}
			found := false
			for _, f := range fields {
				found = found || f == tc.field
			}
			if !found {
				t.Errorf("fields %v do not name %q (err: %v)", fields, tc.field, err)
			}
		})
	}
}

func TestPrivateIPsWhenAllowed(t *testing.T) {
	p := IPPolicy{AllowPrivate: true}
	for _, s := range []string{"127.0.0.1", "10.0.0.0/16", "::1", "fd00::/48"} {
		if _, err := p.ParseAllowedIP("ip", s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	got, err := p.ParseAllowedIP("ip", "::ffff:203.0.113.7")
	if err != nil || got != netip.MustParsePrefix("203.0.113.7/32") {
		t.Errorf("mapped address: %v %v", got, err)
	}
}

func TestTransitions(t *testing.T) {
	now := time.Now()
	tn := &Tenant{TenantID: "t", Status: StatusProvisioned}
	if _, err := tn.SetStatus(StatusRevoked, "x", now); ErrorCode(err) != CodeConflict {
		t.Errorf("Provisioned -> Revoked allowed: %v", err)
	}
	for _, to := range []Status{StatusConsented, StatusDegraded, StatusConsented, StatusRevoked, StatusConsented} {
		if _, err := tn.SetStatus(to, "x", now); err != nil {
			t.Fatalf("-> %s: %v", to, err)
		}
	}
	if changed, err := tn.SetStatus(StatusConsented, "again", now); changed || err != nil {
		t.Errorf("same status: changed=%v err=%v", changed, err)
	}
	if _, err := tn.SetStatus(StatusSuspended, "ops", now); err != nil || tn.SuspendedFrom != StatusConsented {
		t.Fatalf("suspend: %v from=%s", err, tn.SuspendedFrom)
	}
	// Only resume leaves Suspended: a callback or check that read the
	// tenant before the suspend must not undo it (issue 11.5).
	for _, to := range []Status{StatusProvisioned, StatusConsented, StatusDegraded, StatusRevoked} {
		if CanTransition(StatusSuspended, to) {
			t.Errorf("Suspended -> %s allowed outside resume", to)
		}
		if _, err := tn.SetStatus(to, "late callback", now); ErrorCode(err) != CodeConflict || tn.Status != StatusSuspended {
			t.Errorf("SetStatus(Suspended -> %s) = %v, status %s", to, err, tn.Status)
		}
	}
	if err := tn.Resume("ops", now); err != nil || tn.Status != StatusConsented {
		t.Fatalf("resume: %v status=%s", err, tn.Status)
	}
	if _, err := tn.SetStatus(StatusOffboarded, "bye", now); err != nil {
		t.Fatal(err)
	}
	for _, to := range Statuses {
		if to != StatusOffboarded && CanTransition(StatusOffboarded, to) {
			t.Errorf("Offboarded -> %s allowed", to)
		}
	}
	if err := tn.Resume("x", now); err == nil {
		t.Error("resume of an offboarded tenant allowed")
	}
}

func TestAllowsIP(t *testing.T) {
	tn := &Tenant{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.16/28"), netip.MustParsePrefix("2001:db8::/64")}}
	cases := map[string]bool{"198.51.100.20": true, "198.51.100.32": false, "2001:db8::5": true, "2001:db9::5": false, "::ffff:198.51.100.17": true}
	for ip, want := range cases {
		if got := tn.AllowsIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("AllowsIP(%s) = %v", ip, got)
		}
	}
}

func TestEmailJobDecoding(t *testing.T) {
	ok := `{"schemaVersion":1,"kind":"consent-link","tenantId":"3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10","recipients":["a@contoso.com"],"idempotencyKey":"k"}`
	if _, err := DecodeEmailJob([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"kind":       strings.Replace(ok, "consent-link", "spam", 1),
		"recipients": strings.Replace(ok, `"a@contoso.com"`, `"nope"`, 1),
		"extra":      strings.Replace(ok, `"k"}`, `"k","x":1}`, 1),
		"alert":      strings.Replace(ok, "consent-link", "ops-alert", 1),
	}
	for name, body := range bad {
		if _, err := DecodeEmailJob([]byte(body)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestErrorsFormatting(t *testing.T) {
	es := Errors{FieldError("a", "is required"), FieldError("b", "must be 1")}
	err := es.Err()
	if got := err.Error(); got != "2 problems: a: is required; b: must be 1" {
		t.Errorf("Error() = %q", got)
	}
	if ErrorField(err) != "a" || ErrorCode(err) != CodeInvalid {
		t.Errorf("field/code = %s/%s", ErrorField(err), ErrorCode(err))
	}
	if (Errors{}).Err() != nil {
		t.Error("empty Errors is not nil")
	}
	wrapped := fmt.Errorf("ctx: %w", Wrap(CodeUnavailable, errors.New("down"), "store"))
	if !IsTransient(wrapped) {
		t.Error("wrapped unavailable not transient")
	}
}

func TestRegionValidation(t *testing.T) {
	r := Region{Code: "eu", DisplayName: "Europe", AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", TenantKeyDomain: "eu.teams.videosrv.net", InstructionBaseURL: "https://join.eu.videosrv.net/api/join/"}
	if errs := r.Validate("r"); len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := r.TenantKey("482913057"); got != "482913057@eu.teams.videosrv.net" {
		t.Error(got)
	}
	// Teams replaces {ConfId} with each meeting's Video ID (issue 10 item 7).
	if got := r.InstructionURI("482913057"); got != "https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}" {
		t.Error(got)
	}
	r.TenantKeyDigits = 3
	r.InstructionBaseURL = "javascript:alert(1)"
	if errs := r.Validate("r"); len(errs) != 2 {
		t.Errorf("want 2 errors, got %v", errs)
	}
}

// Tenants stored before the {ConfId} placeholder get it when their script,
// page or email is built; a current URI is left alone.
func TestInstructionURIWithConfID(t *testing.T) {
	for in, want := range map[string]string{
		"https://join.example/api/join/482913057":               "https://join.example/api/join/482913057?conf={ConfId}",
		"https://join.example/api/join/482913057?":              "https://join.example/api/join/482913057?conf={ConfId}",
		"https://join.example/api/join/482913057?lang=en":       "https://join.example/api/join/482913057?lang=en&conf={ConfId}",
		"https://join.example/api/join/482913057?conf={ConfId}": "https://join.example/api/join/482913057?conf={ConfId}",
		"https://join.example/api/join/482913057/{ConfId}":      "https://join.example/api/join/482913057/{ConfId}",
		"https://join.example/api/join/482913057?conf=1":        "https://join.example/api/join/482913057?conf=1",
		"": "",
	} {
		if got := InstructionURIWithConfID(in); got != want {
			t.Errorf("InstructionURIWithConfID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecheckSchedule(t *testing.T) {
	s := RecheckSchedule{First: 2 * time.Minute, Attempts: 3}
	if s.Delay(1) != 2*time.Minute || s.Delay(3) != 8*time.Minute || s.Window() != 14*time.Minute {
		t.Errorf("delays %v %v window %v", s.Delay(1), s.Delay(3), s.Window())
	}
	since := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	b := RecheckBatch("t1", since, 2)
	rc, ok := ParseRecheck(&b, "t1")
	if !ok || rc.Attempt != 2 || rc.Since.Unix() != since.Unix() {
		t.Fatalf("ParseRecheck = %+v %v", rc, ok)
	}
	if _, ok := ParseRecheck(&b, "t2"); ok {
		t.Error("a re-check of t1 parsed as one of t2")
	}
	if _, ok := ParseRecheck(&RevalidationBatch{RunID: "run-20261125T120000Z"}, "t1"); ok {
		t.Error("a scheduled run parsed as a re-check")
	}
	tn := &Tenant{VerificationPending: true, VerificationPendingSince: since}
	if !rc.Of(tn) {
		t.Error("re-check not of its own pending verification")
	}
	tn.VerificationPendingSince = since.Add(time.Minute)
	if rc.Of(tn) {
		t.Error("re-check of an older pending verification accepted")
	}
}
