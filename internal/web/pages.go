package web

import (
	"html/template"
	"net/http"
	"strings"
)

// Page is one of the page types of this package; Render takes any of them.
type Page interface {
	templateName() string
	title() string
	// noStore pages must not be kept by browsers or proxies: they carry
	// one-time consent outcomes and tenant details.
	noStore() bool
}

// ConsentRefusedPage is the 403 shown when consent may not start: the
// caller's IP is not allow-listed, the link expired or was replaced, the
// tenant is suspended or offboarded, or there is no link and the IP does not
// identify exactly one tenant. The Refusal* constructors fill it in.
type ConsentRefusedPage struct {
	Heading string
	Reason  string
	// SeenIP is the address the request came from, shown so the admin can
	// compare it with their network or send it to support. The tenant's
	// allowed addresses are never shown: anyone holding a link could read
	// them.
	SeenIP   string
	WhatToDo []string
	RetryURL string
}

func (ConsentRefusedPage) templateName() string { return "refused" }
func (p ConsentRefusedPage) title() string {
	return orDefault(p.Heading, "We can't start consent from here")
}
func (ConsentRefusedPage) noStore() bool { return true }

// ConsentDeclinedPage is shown when Microsoft returned an error to the
// consent callback: the admin cancelled, or an AADSTS error. Explanation may
// be empty: the page then explains ErrorCode/ErrorDescription itself (see
// ExplainConsentError).
type ConsentDeclinedPage struct {
	CustomerName     string
	ErrorCode        string
	ErrorDescription string
	Explanation      string
	// RetryURL is the "try again" link for this tenant; empty when there
	// is none. LinkExpired says the consent link has expired, so the page
	// tells the admin to ask support for a new one.
	RetryURL    string
	LinkExpired bool
	// StatusURL is the tenant's status page, when it has one.
	StatusURL string
}

func (ConsentDeclinedPage) templateName() string { return "declined" }
func (ConsentDeclinedPage) title() string        { return "Consent was not granted" }
func (ConsentDeclinedPage) noStore() bool        { return true }

// ExplanationText is the plain-words explanation the page shows.
func (p ConsentDeclinedPage) ExplanationText() string {
	if s := strings.TrimSpace(p.Explanation); s != "" {
		return s
	}
	return ExplainConsentError(p.ErrorCode, p.ErrorDescription)
}

// ConsentErrorPage is shown for a callback that cannot be trusted or used:
// an invalid, expired or replayed state, and similar.
type ConsentErrorPage struct {
	Heading     string
	Message     string
	RetryURL    string
	LinkExpired bool
	// StatusURL is the tenant's status page, when it has one.
	StatusURL string
}

func (ConsentErrorPage) templateName() string { return "consenterror" }
func (p ConsentErrorPage) title() string {
	return orDefault(p.Heading, "This consent request can't be completed")
}
func (ConsentErrorPage) noStore() bool { return true }

// ConsentGrantedPage confirms verified consent and gives the admin the
// PowerShell that enables the service in Teams.
type ConsentGrantedPage struct {
	CustomerName   string
	TenantID       string
	TenantKey      string
	InstructionURI string
	AppID          string
	Script         string
	ScriptFileName string // suggested download name; DefaultScriptFileName if empty
	RegionName     string
	SupportEmail   string // overrides the branding's support address on this page
	// StatusURL is the tenant's status page, when it has one.
	StatusURL string
}

func (ConsentGrantedPage) templateName() string   { return "granted" }
func (ConsentGrantedPage) title() string          { return "Consent granted" }
func (ConsentGrantedPage) noStore() bool          { return true }
func (ConsentGrantedPage) usesCopyScript() bool   { return true }
func (p ConsentGrantedPage) supportEmail() string { return p.SupportEmail }

// ConsentDegradedPage is shown when consent arrived but our application is
// disabled in the tenant (Disabled), or some required permissions are
// missing.
type ConsentDegradedPage struct {
	CustomerName       string
	Disabled           bool
	MissingPermissions []string
	GrantedPermissions []string
	RetryURL           string
	LinkExpired        bool
	SupportEmail       string
	// StatusURL is the tenant's status page, when it has one.
	StatusURL string
}

func (ConsentDegradedPage) templateName() string   { return "degraded" }
func (ConsentDegradedPage) title() string          { return "Consent is missing permissions" }
func (ConsentDegradedPage) noStore() bool          { return true }
func (p ConsentDegradedPage) supportEmail() string { return p.SupportEmail }

// ConsentPendingPage is shown when Microsoft reported consent but our check
// in the tenant has not succeeded yet: Entra ID replication lags, and the
// grant reaches our tokens minutes later. We re-check and email the admin.
type ConsentPendingPage struct {
	CustomerName string
	SupportEmail string
}

func (ConsentPendingPage) templateName() string   { return "pending" }
func (ConsentPendingPage) title() string          { return "Consent received: verification in progress" }
func (ConsentPendingPage) noStore() bool          { return true }
func (p ConsentPendingPage) supportEmail() string { return p.SupportEmail }

// JoinInstructionsPage is the tenant's InstructionUri page, linked from Teams
// meeting invites. It holds dialing facts only: anyone with an invite sees it.
type JoinInstructionsPage struct {
	ServiceRegionName string
	TenantKey         string // e.g. 482913057@eu.teams.videosrv.net
	VideoID           string // normalized (NormalizeVideoID); empty if unknown
	DirectDialDomain  string // replaces the tenant key's domain in the direct-dial address
	// Placeholder: the link still had Teams' {ConfId} in it (opened outside
	// a meeting invite), so no meeting is known.
	Placeholder bool
	// InvalidVideoID: the link or form carried something that is not a
	// Video ID. The page says so without repeating it.
	InvalidVideoID bool
}

func (JoinInstructionsPage) templateName() string { return "join" }
func (JoinInstructionsPage) title() string        { return "Join a Teams meeting from a video system" }
func (JoinInstructionsPage) noStore() bool        { return false }

// The page changes only with configuration, so short caching is safe.
func (JoinInstructionsPage) cacheControl() string { return "public, max-age=300" }

// DirectDial is the address that joins the meeting without the IVR prompt,
// <Video ID>.<tenant key>, or "" when it is not known.
func (p JoinInstructionsPage) DirectDial() string {
	return DirectDialAddress(p.VideoID, p.TenantKey, p.DirectDialDomain)
}

// DirectDialURI is DirectDial as a sip: link, or "" when there is none.
func (p JoinInstructionsPage) DirectDialURI() template.URL { return sipURI(p.DirectDial()) }

// NotFoundPage is the 404 page.
type NotFoundPage struct {
	Message string
}

func (NotFoundPage) templateName() string { return "notfound" }
func (NotFoundPage) title() string        { return "Page not found" }
func (NotFoundPage) noStore() bool        { return true }

// ErrorPage is the generic error page; RequestID lets support find the logs.
type ErrorPage struct {
	Status    int
	Message   string
	RequestID string
}

func (ErrorPage) templateName() string { return "error" }
func (p ErrorPage) title() string {
	switch {
	case p.Status >= 500 || p.Status == 0:
		return "Something went wrong on our side"
	case p.Status == http.StatusTooManyRequests:
		return "Too many requests"
	default:
		return "We couldn't handle that request"
	}
}
func (ErrorPage) noStore() bool { return true }

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}
