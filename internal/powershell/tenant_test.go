package powershell

import (
	"net/url"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func tenant() *domain.Tenant {
	return &domain.Tenant{TenantID: "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", CustomerName: "Contoso Unique Name", TenantKey: "482913057@eu.teams.videosrv.net",
		TenantKeyCode: "482913057", InstructionURI: "https://join.example/api/join/482913057", AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"}
}

// ForTenant names the customer; ForDownload is the same script without the
// name (the public link shows nothing the caller did not know). Both carry
// the {ConfId} InstructionUri, even for a tenant stored before it.
func TestForTenantAndForDownload(t *testing.T) {
	tn := tenant()
	full, name, err := ForTenant(tn)
	if err != nil {
		t.Fatal(err)
	}
	dl, dlName, err := ForDownload(tn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full, "Contoso Unique Name") || strings.Contains(dl, "Contoso Unique Name") {
		t.Error("the customer name belongs in ForTenant's script only")
	}
	if name == "" || !strings.HasSuffix(name, ".ps1") || dlName == "" {
		t.Errorf("file names %q, %q", name, dlName)
	}
	for _, s := range []string{full, dl} {
		if !strings.Contains(s, domain.InstructionURIWithConfID(tn.InstructionURI)) || !strings.Contains(s, tn.TenantKey) || !strings.Contains(s, tn.AppID) {
			t.Errorf("script lacks the tenant's InstructionUri, key or app ID:\n%s", s)
		}
	}
	tn.TenantKey = "not a key\r\n"
	if _, _, err := ForTenant(tn); domain.ErrorCode(err) != domain.CodeInternal || !strings.Contains(err.Error(), tn.TenantID) {
		t.Errorf("unsafe key: %v; want an internal error naming the tenant", err)
	}
}

// The download link is the join path of the key with the tenant ID the
// handler checks; without a public base there is none.
func TestDownloadURL(t *testing.T) {
	base, _ := url.Parse("https://onboard.example/base/")
	if got, want := DownloadURL(base, tenant()), "https://onboard.example/base/api/join/482913057/powershell?tenant=3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"; got != want {
		t.Errorf("DownloadURL = %q, want %q", got, want)
	}
	if got := DownloadURL(nil, tenant()); got != "" {
		t.Errorf("without a base: %q", got)
	}
}
