package web

// The Refusal* constructors give the consent-start handler one wording per
// reason, so every refusal says what happened and what to do next.

// RefusalIPNotAllowed: the request came from an address not on the tenant's
// allow-list. The page shows the caller's address and how to get it added,
// never the list itself (anyone holding the link would see it).
func RefusalIPNotAllowed(seenIP, retryURL string) ConsentRefusedPage {
	todo := []string{
		"Open the consent link again from your organization's usual network (for example your office network or company VPN): it is probably on the allow-list.",
		"To use this network instead, email our support team the address shown on this page (" + seenIP + ") and ask us to add it to your organization's allow-list. Once we confirm, open the consent link again.",
	}
	if seenIP == "" {
		todo[1] = "To use this network instead, email our support team and ask us to add its public IP address to your organization's allow-list."
	}
	return ConsentRefusedPage{
		Heading:  "Your network isn't on the allow-list for this consent link",
		Reason:   "For security, admin consent can only be given from the public IP addresses your organization gave us when it signed up.",
		SeenIP:   seenIP,
		WhatToDo: todo,
		RetryURL: retryURL,
	}
}

// RefusalLinkExpired: the link token is past its expiry.
func RefusalLinkExpired(seenIP string) ConsentRefusedPage {
	return ConsentRefusedPage{
		Heading: "This consent link has expired",
		Reason:  "Consent links work for a limited time, and this one is no longer valid.",
		SeenIP:  seenIP,
		WhatToDo: []string{
			"Email our support team and ask for a new consent link. It will arrive by email.",
		},
	}
}

// RefusalLinkReplaced: a newer link was issued for the tenant.
func RefusalLinkReplaced(seenIP string) ConsentRefusedPage {
	return ConsentRefusedPage{
		Heading: "This consent link has been replaced by a newer one",
		Reason:  "We sent your organization a newer consent link, and older links stop working when that happens.",
		SeenIP:  seenIP,
		WhatToDo: []string{
			"Open the link in the most recent consent email from us.",
			"Can't find it? Email our support team and we'll send it again.",
		},
	}
}

// RefusalTenantSuspended: an operator suspended the tenant's onboarding.
func RefusalTenantSuspended(seenIP string) ConsentRefusedPage {
	return ConsentRefusedPage{
		Heading: "Onboarding for your organization is on hold",
		Reason:  "Our team has paused onboarding for your organization, so consent can't be given right now.",
		SeenIP:  seenIP,
		WhatToDo: []string{
			"Email our support team to find out why and when onboarding can continue.",
		},
	}
}

// RefusalTenantOffboarded: the tenant's service has ended.
func RefusalTenantOffboarded(seenIP string) ConsentRefusedPage {
	return ConsentRefusedPage{
		Heading: "The service for your organization has ended",
		Reason:  "Your organization has been removed from the service, so this consent link no longer works.",
		SeenIP:  seenIP,
		WhatToDo: []string{
			"If you want to use the service again, email our support team or your account manager.",
		},
	}
}

// RefusalNoLink: no link token, and the caller's IP matches no tenant or
// several, so we cannot tell which organization this is for.
func RefusalNoLink(seenIP string) ConsentRefusedPage {
	return ConsentRefusedPage{
		Heading: "Open the consent link from your email",
		Reason:  "We can't tell which organization this request is for. The link in our consent email identifies it.",
		SeenIP:  seenIP,
		WhatToDo: []string{
			"Open the link from the consent email exactly as it is: it ends with a long code. If your email program broke it across lines, copy the whole link into the address bar.",
			"Can't find the email? Email our support team and we'll send it again.",
		},
	}
}
