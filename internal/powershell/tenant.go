package powershell

import (
	"net/url"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// ForTenant is the customer's script for t and its file name: what the
// confirmation email attaches, the consent-granted page shows and the admin
// API hands out. A tenant stored before the {ConfId} placeholder gets the
// current InstructionUri, so running the script again upgrades the
// provider.
func ForTenant(t *domain.Tenant) (script, fileName string, err error) {
	return forTenant(t, t.CustomerName)
}

// ForDownload is ForTenant for the public download link: the same commands
// without the customer name (only in comments and Write-Host), so the link
// shows nothing the caller did not already know (the tenant ID it presents)
// beyond the join page's dialing facts and our public application ID.
func ForDownload(t *domain.Tenant) (script, fileName string, err error) {
	return forTenant(t, "")
}

// DownloadURL is the download link of t's script: the primary way to get
// it, because Outlook blocks .ps1 attachments (reference identity-graph.md
// §4). It carries the tenant ID, which the handler checks against the key.
// "" without a public base URL.
func DownloadURL(publicBase *url.URL, t *domain.Tenant) string {
	if publicBase == nil {
		return ""
	}
	u := publicBase.JoinPath("api", "join", t.TenantKeyCode, "powershell")
	u.RawQuery = url.Values{"tenant": {t.TenantID}}.Encode()
	return u.String()
}

func forTenant(t *domain.Tenant, customerName string) (script, fileName string, err error) {
	p := Params{CustomerName: customerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
		InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI), AppIDs: []string{t.AppID}}
	script, err = Script(p)
	if err != nil {
		return "", "", domain.Wrap(domain.CodeInternal, err, "generate PowerShell for tenant %s", t.TenantID)
	}
	return script, FileName(p), nil
}
