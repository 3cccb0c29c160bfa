package web

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

var aadstsCode = regexp.MustCompile(`\bAADSTS(\d{4,8})\b`)

// consentErrorHelp maps AADSTS codes seen during admin consent to plain
// words. Unknown codes fall back to the OAuth error code.
func consentErrorHelp(code string) string {
	if n, err := strconv.Atoi(code); err == nil && domain.AppNotInTenant(n) {
		// 700016 on the consent redirect means our client ID is unknown
		// there; 700016 or 7000229 from our own check after the redirect
		// means the consent is not in the tenant. One text fits both.
		return "Microsoft reports that our application isn't in your tenant, so consent was not recorded. Try again from the consent link and select Accept. If the same error comes back, it is a configuration problem on our side: please email our support team with the details below."
	}
	switch code {
	case "65004":
		return "Consent was declined on the Microsoft sign-in page, so nothing was changed in your tenant. If that was a mistake, try again and select Accept."
	case "90094", "90093", "90099":
		return "The account you signed in with isn't allowed to grant consent for the whole organization. Try again and sign in as a Global Administrator (or Privileged Role Administrator) of your Microsoft 365 tenant."
	case "50020", "90072":
		return "The account you signed in with doesn't belong to your organization's Microsoft 365 tenant (it may be a guest or personal account). Try again and sign in with an administrator account of your own tenant."
	case "53003":
		return "A Conditional Access policy in your tenant blocked the sign-in. Try again from a device or network your policies allow, or ask your identity team for help."
	case "7000112":
		return "Our application is disabled in your tenant. In the Microsoft Entra admin center, open Enterprise applications, find the application, set \"Enabled for users to sign in\" to Yes, then try again."
	case "650051":
		return "An older registration of our application is still in your tenant and blocks a new consent. Email our support team: we'll tell you which Enterprise application entry to remove before you try again."
	case "50011", "500113", "900971":
		return "Microsoft rejected the request because of a configuration problem on our side. There is nothing for you to change: please email our support team with the details below."
	}
	return ""
}

// ExplainConsentError explains, in plain words, an error that Microsoft
// returned to the consent callback (the OAuth "error" and "error_description"
// parameters, the latter usually starting with an AADSTS code).
func ExplainConsentError(errorCode, description string) string {
	if m := aadstsCode.FindStringSubmatch(description); m != nil {
		if s := consentErrorHelp(m[1]); s != "" {
			return s
		}
	}
	switch strings.TrimSpace(errorCode) {
	case "access_denied", "consent_required":
		return "Consent wasn't given: it was cancelled or declined on the Microsoft sign-in page, so nothing was changed in your tenant. When you're ready, try again and sign in as a Global Administrator."
	case "temporarily_unavailable", "server_error":
		return "Microsoft's sign-in service had a temporary problem. Wait a minute, then try again."
	case "invalid_request", "unauthorized_client", "invalid_client", "unsupported_response_type", "invalid_scope":
		return "Microsoft rejected the request because of a configuration problem on our side. There is nothing for you to change: please email our support team with the details below."
	}
	return "Microsoft didn't grant consent. Try again; if it happens again, email our support team with the details below."
}
