package domain

import "context"

// RequiredGraphRoles are the Microsoft Graph application permissions a
// customer tenant must grant (DESIGN.md); the token's roles claim carries
// these names.
var RequiredGraphRoles = []string{
	"User.Read.All",
	"Calls.Initiate.All",
	"Calls.InitiateGroupCall.All",
	"Calls.JoinGroupCall.All",
	"Calls.JoinGroupCallAsGuest.All",
	"Calls.AccessMedia.All",
	"OnlineMeetings.Read.All",
	"OnlineMeetings.ReadWrite.All",
}

// CheckOutcome is the definitive answer of a consent check.
type CheckOutcome string

const (
	CheckConsented  CheckOutcome = "consented"   // token roles ⊇ required, SP enabled
	CheckDegraded   CheckOutcome = "degraded"    // SP present, roles missing or SP disabled
	CheckRevoked    CheckOutcome = "revoked"     // app not in the tenant (never consented or removed)
	CheckTenantGone CheckOutcome = "tenant-gone" // the tenant itself no longer exists
)

// ConsentCheck is the result of checking one tenant's consent.
type ConsentCheck struct {
	Outcome      CheckOutcome
	Roles        []string
	MissingRoles []string
	SPEnabled    bool
	Detail       string
	AADSTS       int
	// RolesUnknown: the token could not be read, so Roles and MissingRoles
	// are empty and the outcome rests on the service principal alone.
	RolesUnknown bool
}

// CheckOptions tune a consent check.
type CheckOptions struct {
	// LowPriority marks batch traffic (x-ms-throttle-priority: low).
	LowPriority bool
	// Fresh drops a cached token first: roles may just have changed.
	Fresh bool
}

// ConsentChecker confirms consent server-side (Graph + token roles). Errors
// are transient (CodeUnavailable, no conclusion) or our own credential
// problems (CodeInternal); definitive answers are outcomes, not errors.
type ConsentChecker interface {
	CheckConsent(ctx context.Context, tenantID, appID string, o CheckOptions) (ConsentCheck, error)
}

// MailAttachment is a file attached to an email.
type MailAttachment struct {
	Name        string
	ContentType string
	Content     []byte
}

// OutgoingMail is one email to send from the configured sender mailbox.
type OutgoingMail struct {
	To, Cc      []string
	Subject     string
	HTML        string
	Text        string    // plain-text alternative of HTML (multipart/alternative)
	Kind        EmailKind // sent as a header, names the local outbox files
	Attachments []MailAttachment
}

// MailSender sends email (Graph sendMail). Errors: CodeUnavailable for
// transient failures (429/5xx), other codes are permanent.
type MailSender interface {
	SendMail(ctx context.Context, m OutgoingMail) error
}
