package consent

import (
	"regexp"
	"strings"
)

var aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)

// ExplainError turns the identity platform's redirect error into plain words
// for the customer's admin (identity-graph.md §1–§2).
func ExplainError(code, description string) string {
	if m := aadstsCode.FindStringSubmatch(description); m != nil {
		switch m[1] {
		case "65004":
			return "The consent request was declined, so nothing was changed. If that was a mistake, use \"Try again\" and choose Accept."
		case "65001":
			return "Consent has not been granted yet. Sign in as a Global Administrator (or Privileged Role Administrator) and accept the permissions."
		case "650051":
			return "An old copy of the OneMeeting CVI application is still registered in your directory. Delete the \"OneMeeting CVI\" enterprise application in the Microsoft Entra admin center, then try again."
		case "90094", "90008", "900941":
			return "Only an administrator can grant these permissions. Sign in with a Global Administrator account, or ask one to open the link."
		case "50011", "50020":
			return "The sign-in could not be completed because of a configuration mismatch on our side. Please contact support; nothing was changed in your organisation."
		case "700016":
			return "The OneMeeting CVI application could not be found in your directory. Try again; if it keeps failing, contact support."
		case "53003":
			return "A Conditional Access policy in your organisation blocked the sign-in. Ask your identity team to allow this admin consent, then try again."
		}
	}
	switch strings.ToLower(code) {
	case "access_denied", "consent_required":
		return "The permissions were not granted, so nothing was changed. If you meant to approve, use \"Try again\" and choose Accept."
	case "invalid_request":
		return "Microsoft could not process the request. Please try again; if it keeps failing, contact support."
	case "temporarily_unavailable", "server_error":
		return "Microsoft sign-in was temporarily unavailable. Please try again in a few minutes."
	}
	return "Microsoft reported a problem and consent was not granted. Please try again; if it keeps failing, contact support with the details below."
}
