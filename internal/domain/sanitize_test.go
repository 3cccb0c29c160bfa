package domain

import (
	"strings"
	"testing"
	"time"
)

func TestCleanDisplayText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Contoso Ltd", "Contoso Ltd"},
		{"  Contoso \t\n Ltd  ", "Contoso Ltd"},
		{"Contoso\u202Edtl.exe", "Contosodtl.exe"},             // right-to-left override
		{"\u2066Contoso\u2069 \u2067Ltd\u2068", "Contoso Ltd"}, // isolates
		{"Con\u200Btoso\u00AD\uFEFF\u200E\u200F\u061C", "Contoso"},
		{"Contoso\u2028Ltd\u2029", "Contoso Ltd"},
		{"Contoso\x00\x1b[31mLtd", "Contoso[31mLtd"},
		{"Müller & Søn 株式会社", "Müller & Søn 株式会社"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"\u202E", ""},
	} {
		if got := CleanDisplayText(c.in); got != c.want {
			t.Errorf("CleanDisplayText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeDomainForms(t *testing.T) {
	for _, c := range []struct{ in, ascii, unicode string }{
		{"contoso.com", "contoso.com", "contoso.com"},
		{"Contoso.COM.", "contoso.com", "contoso.com"},
		{"bücher.example", "xn--bcher-kva.example", "bücher.example"},
		{"BÜCHER.Example", "xn--bcher-kva.example", "bücher.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"},
		{"münchen.bücher.de", "xn--mnchen-3ya.xn--bcher-kva.de", "münchen.bücher.de"},
	} {
		a, u, err := NormalizeDomainForms("d", c.in)
		if err != nil || a != c.ascii || u != c.unicode {
			t.Errorf("NormalizeDomainForms(%q) = %q, %q, %v; want %q, %q", c.in, a, u, err, c.ascii, c.unicode)
		}
	}
	for _, bad := range []string{"", "contoso", "not a domain", "a..b.com", "bü\u202Echer.example", "a_b.example",
		"xn--zz-.example", "-x.example", strings.Repeat("a", 64) + ".com", "b\u200Bücher.example"} {
		if a, u, err := NormalizeDomainForms("primaryDomain", bad); err == nil {
			t.Errorf("NormalizeDomainForms(%q) = %q, %q; want an error", bad, a, u)
		} else if !strings.Contains(err.Error(), "primaryDomain") {
			t.Errorf("error %q does not name the field", err)
		}
	}
}

// TestDecodeProvisioningCleansDisplayStrings: intake stores the cleaned
// names and both forms of a Unicode domain.
func TestDecodeProvisioningCleansDisplayStrings(t *testing.T) {
	body := strings.NewReplacer(
		`"Contoso Ltd"`, `"Contoso \u202Egnp.exe\u202C Ltd"`,
		`"Contoso IT Admin"`, `"\u2066Contoso IT Admin\u2069"`,
		`"Contoso.com"`, `"Bücher.example"`,
	).Replace(example)
	req, err := DecodeProvisioningRequest([]byte(body), IPPolicy{}, known)
	if err != nil {
		t.Fatal(err)
	}
	if req.CustomerName != "Contoso gnp.exe Ltd" {
		t.Errorf("customerName = %q", req.CustomerName)
	}
	if req.Contacts[0].Name != "Contoso IT Admin" {
		t.Errorf("contact name = %q", req.Contacts[0].Name)
	}
	if req.PrimaryDomain != "xn--bcher-kva.example" || req.PrimaryDomainUnicode != "bücher.example" {
		t.Errorf("primaryDomain = %q / %q", req.PrimaryDomain, req.PrimaryDomainUnicode)
	}
	_, err = DecodeProvisioningRequest([]byte(strings.Replace(example, `"Contoso Ltd"`, `"\u202E\u200B"`, 1)), IPPolicy{}, known)
	if err == nil || !strings.Contains(err.Error(), "customerName") {
		t.Errorf("a name of hidden characters only: err = %v", err)
	}
}

func TestConsentDeclineIsRecordedUntilConsentIsFound(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tn := &Tenant{TenantID: "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", Status: StatusProvisioned}
	tn.RecordConsentDeclined("access_denied", "AADSTS65004: User declined to consent to access the app.", now)
	if tn.LastConsentOutcome != ConsentOutcomeDeclined || tn.LastConsentError != "AADSTS65004" || !tn.LastConsentAt.Equal(now) {
		t.Fatalf("after decline: %q %q %v", tn.LastConsentOutcome, tn.LastConsentError, tn.LastConsentAt)
	}
	if tn.Status != StatusProvisioned {
		t.Errorf("a decline changed the status to %s", tn.Status)
	}
	tn.RecordConsentDeclined("invalid_request\u202E", "no code here", now)
	if tn.LastConsentError != "invalid_request" {
		t.Errorf("without AADSTS: %q", tn.LastConsentError)
	}
	tn.RecordCheck(ConsentCheck{Outcome: CheckRevoked}, "", now.Add(time.Hour))
	if tn.LastConsentOutcome != ConsentOutcomeDeclined {
		t.Errorf("a revoked check cleared the decline")
	}
	tn.RecordCheck(ConsentCheck{Outcome: CheckConsented, Roles: RequiredGraphRoles}, "", now.Add(2*time.Hour))
	if tn.LastConsentOutcome != ConsentOutcomeConsented || tn.LastConsentError != "" || !tn.LastConsentAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("after consent: %q %q %v", tn.LastConsentOutcome, tn.LastConsentError, tn.LastConsentAt)
	}
	if _, err := ParseConsentOutcome("declined"); err != nil {
		t.Error(err)
	}
	if _, err := ParseConsentOutcome("maybe"); err == nil {
		t.Error("ParseConsentOutcome accepted maybe")
	}
}
