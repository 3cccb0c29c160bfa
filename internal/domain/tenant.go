package domain

import (
	"net/netip"
	"regexp"
	"slices"
	"time"
)

// Status is a tenant's lifecycle state (DESIGN.md "Tenant lifecycle").
type Status string

const (
	StatusProvisioned Status = "Provisioned"
	StatusConsented   Status = "Consented"
	StatusDegraded    Status = "Degraded"
	StatusRevoked     Status = "Revoked"
	StatusSuspended   Status = "Suspended"
	StatusOffboarded  Status = "Offboarded"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusProvisioned, StatusConsented, StatusDegraded, StatusRevoked, StatusSuspended, StatusOffboarded}

// transitions is the single table of allowed status changes. Leaving
// Suspended for anything but Offboarded is not in it: only an operator's
// resume (Tenant.Resume) does that, so a consent callback or check that read
// the tenant before a concurrent suspend can never undo the suspension.
var transitions = map[Status][]Status{
	StatusProvisioned: {StatusConsented, StatusDegraded, StatusSuspended, StatusOffboarded},
	StatusConsented:   {StatusDegraded, StatusRevoked, StatusSuspended, StatusOffboarded},
	StatusDegraded:    {StatusConsented, StatusRevoked, StatusSuspended, StatusOffboarded},
	StatusRevoked:     {StatusConsented, StatusDegraded, StatusSuspended, StatusOffboarded},
	StatusSuspended:   {StatusOffboarded},
	StatusOffboarded:  {},
}

// resumable are the statuses a suspended tenant may return to on resume.
var resumable = []Status{StatusProvisioned, StatusConsented, StatusDegraded, StatusRevoked}

// ParseStatus accepts a status name (case-sensitive, as stored).
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if _, ok := transitions[st]; !ok {
		return "", FieldError("status", "unknown status %q (one of Provisioned, Consented, Degraded, Revoked, Suspended, Offboarded)", s)
	}
	return st, nil
}

// CanTransition reports whether from → to is an allowed lifecycle change.
func CanTransition(from, to Status) bool {
	return slices.Contains(transitions[from], to)
}

// ContactRole is what a contact is emailed about.
type ContactRole string

const (
	RoleAdmin     ContactRole = "admin"
	RoleTechnical ContactRole = "technical"
	RoleBilling   ContactRole = "billing"
)

// Contact is a person at the customer.
type Contact struct {
	Name  string      `json:"name,omitempty"`
	Email string      `json:"email"`
	Role  ContactRole `json:"role"`
}

// Tenant is one customer's Microsoft 365 tenant as onboarded here.
type Tenant struct {
	TenantID      string    `json:"tenantId"`
	Status        Status    `json:"status"`
	StatusReason  string    `json:"statusReason,omitempty"`
	StatusChanged time.Time `json:"statusChangedAt"`
	// SuspendedFrom is the status to return to on resume.
	SuspendedFrom Status `json:"suspendedFrom,omitempty"`

	CustomerName   string         `json:"customerName"`
	PrimaryDomain  string         `json:"primaryDomain,omitempty"`
	Region         string         `json:"region"`
	AppID          string         `json:"appId"`
	TenantKey      string         `json:"tenantKey"`
	TenantKeyCode  string         `json:"tenantKeyCode"`
	InstructionURI string         `json:"instructionUri"`
	AllowedIPs     []netip.Prefix `json:"allowedIps"`
	Contacts       []Contact      `json:"contacts"`
	LastRequestID  string         `json:"lastRequestId,omitempty"`

	// PrimaryDomain above is the ASCII (punycode) form, for matching;
	// PrimaryDomainUnicode is the same name for display (bücher.example).
	PrimaryDomainUnicode string `json:"primaryDomainUnicode,omitempty"`

	// The current consent link: only its SHA-256 is kept; a newer link
	// supersedes the older one.
	InviteHash      string    `json:"-"`
	InviteIssuedAt  time.Time `json:"inviteIssuedAt,omitzero"`
	InviteExpiresAt time.Time `json:"inviteExpiresAt,omitzero"`

	ConsentedAt         time.Time `json:"consentedAt,omitzero"`
	GrantedRoles        []string  `json:"grantedRoles,omitempty"`
	MissingRoles        []string  `json:"missingRoles,omitempty"`
	VerificationPending bool      `json:"verificationPending,omitempty"`
	// VerificationPendingSince is when the callback recorded the pending
	// verification: it names the re-check chain and bounds its window.
	VerificationPendingSince time.Time `json:"verificationPendingSince,omitzero"`
	// RolesUnknown: the last check could not read the token's roles;
	// GrantedRoles and MissingRoles are from the last check that could.
	RolesUnknown bool `json:"rolesUnknown,omitempty"`

	// The last consent attempt's outcome as the callback saw it (declined
	// is kept until consent is found), Microsoft's error code and when.
	LastConsentOutcome ConsentOutcome `json:"lastConsentOutcome,omitempty"`
	LastConsentError   string         `json:"lastConsentError,omitempty"`
	LastConsentAt      time.Time      `json:"lastConsentAt,omitzero"`

	LastCheckAt              time.Time `json:"lastCheckAt,omitzero"`
	LastCheckOutcome         string    `json:"lastCheckOutcome,omitempty"`
	LastCheckError           string    `json:"lastCheckError,omitempty"`
	ConsecutiveCheckFailures int       `json:"consecutiveCheckFailures,omitempty"`
	// LastCheckRunID lets a redelivered batch count a failure once per run.
	LastCheckRunID string `json:"lastCheckRunId,omitempty"`
	// CheckFailingSince is when the current streak of failed checks began.
	CheckFailingSince time.Time `json:"checkFailingSince,omitzero"`

	// StatusLinkGeneration is the current generation of status-page links
	// (0: none issued yet); rotating bumps it and older links die.
	StatusLinkGeneration int       `json:"-"`
	StatusLinkIssuedAt   time.Time `json:"statusLinkIssuedAt,omitzero"`

	// LiveSince is the first join-page request with a real Video ID: Teams
	// only puts the InstructionUri into invites once the CVI policy is in
	// effect. LastInviteSeen is refreshed at most hourly (internal/status).
	LiveSince      time.Time `json:"liveSince,omitzero"`
	LastInviteSeen time.Time `json:"lastInviteSeen,omitzero"`
	// ConsentAgainAt is the last "grant consent again" request from the
	// status page (rate limit).
	ConsentAgainAt time.Time `json:"-"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	// ETag is the store's version of the record; updates must present it.
	ETag string `json:"-"`

	// EventSeq numbers the tenant's committed lifecycle events (events.go).
	EventSeq int `json:"-"`
	pending  []pendingEvent
}

// SetStatus moves the tenant to a new status if the lifecycle allows it.
// Setting the current status again is a no-op that reports changed=false.
func (t *Tenant) SetStatus(to Status, reason string, now time.Time) (changed bool, err error) {
	if t.Status == to {
		return false, nil
	}
	if !CanTransition(t.Status, to) {
		if t.Status == StatusSuspended {
			return false, Errorf(CodeConflict, "tenant %s is Suspended; only an operator's resume can make it %s", t.TenantID, to)
		}
		return false, Errorf(CodeConflict, "tenant %s cannot go from %s to %s", t.TenantID, t.Status, to)
	}
	if ev, ok := statusEvent(t.Status, to); ok {
		t.Emit(ev, map[string]string{"fromStatus": string(t.Status)})
	}
	return true, t.setStatus(to, reason, now)
}

func (t *Tenant) setStatus(to Status, reason string, now time.Time) error {
	if to == StatusSuspended {
		t.SuspendedFrom = t.Status
	} else {
		t.SuspendedFrom = ""
	}
	t.Status = to
	t.StatusReason = reason
	t.StatusChanged = now
	return nil
}

// Resume returns a suspended tenant to the status it was suspended from.
func (t *Tenant) Resume(reason string, now time.Time) error {
	if t.Status != StatusSuspended {
		return Errorf(CodeConflict, "tenant %s is %s, not Suspended", t.TenantID, t.Status)
	}
	to := t.SuspendedFrom
	if to == "" {
		to = StatusProvisioned
	}
	if !slices.Contains(resumable, to) {
		return Errorf(CodeConflict, "tenant %s was suspended from %q; it cannot be resumed to that", t.TenantID, to)
	}
	t.Emit(EventResumed, map[string]string{"fromStatus": string(t.Status)})
	return t.setStatus(to, reason, now)
}

// RecordCheck notes a definitive consent check: granted and missing roles,
// and the end of any failure streak or pending verification.
func (t *Tenant) RecordCheck(c ConsentCheck, runID string, now time.Time) {
	if c.Outcome != CheckRevoked {
		t.VerificationPending, t.VerificationPendingSince = false, time.Time{}
	}
	if (c.Outcome == CheckConsented || c.Outcome == CheckDegraded) && !c.RolesUnknown {
		t.GrantedRoles, t.MissingRoles = slices.Clone(c.Roles), slices.Clone(c.MissingRoles)
	}
	t.RolesUnknown = c.RolesUnknown
	if (c.Outcome == CheckConsented || c.Outcome == CheckDegraded) && t.LastConsentOutcome != ConsentOutcome(c.Outcome) {
		// Consent is there now: an earlier decline is history (the
		// audit trail keeps it).
		t.LastConsentOutcome, t.LastConsentError, t.LastConsentAt = ConsentOutcome(c.Outcome), "", now
	}
	t.LastCheckAt, t.LastCheckOutcome, t.LastCheckError = now, string(c.Outcome), ""
	t.ConsecutiveCheckFailures, t.CheckFailingSince, t.LastCheckRunID = 0, time.Time{}, runID
	t.UpdatedAt = now
}

// AdminContacts returns the contacts with role admin.
func (t *Tenant) AdminContacts() []Contact {
	var out []Contact
	for _, c := range t.Contacts {
		if c.Role == RoleAdmin {
			out = append(out, c)
		}
	}
	return out
}

// ContactEmails returns every contact's address, admins first, without duplicates.
func (t *Tenant) ContactEmails() []string {
	var out []string
	for _, role := range []ContactRole{RoleAdmin, RoleTechnical, RoleBilling} {
		for _, c := range t.Contacts {
			if c.Role == role && !slices.Contains(out, c.Email) {
				out = append(out, c.Email)
			}
		}
	}
	return out
}

// AllowsIP reports whether addr is inside one of the tenant's allowed prefixes.
func (t *Tenant) AllowsIP(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t.AllowedIPs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ConsentLinkUsable reports whether the tenant's state lets an admin start consent.
func (t *Tenant) ConsentLinkUsable() bool {
	return t.Status != StatusSuspended && t.Status != StatusOffboarded
}

// ConsentOutcome is how the tenant's last admin-consent attempt ended.
type ConsentOutcome string

const (
	ConsentOutcomeConsented ConsentOutcome = ConsentOutcome(CheckConsented)
	ConsentOutcomeDegraded  ConsentOutcome = ConsentOutcome(CheckDegraded)
	ConsentOutcomeDeclined  ConsentOutcome = "declined"
)

// ConsentOutcomes lists every recorded outcome (the listing filter's values).
var ConsentOutcomes = []ConsentOutcome{ConsentOutcomeConsented, ConsentOutcomeDegraded, ConsentOutcomeDeclined}

// ParseConsentOutcome accepts a consent outcome name.
func ParseConsentOutcome(s string) (ConsentOutcome, error) {
	o := ConsentOutcome(s)
	if !slices.Contains(ConsentOutcomes, o) {
		return "", FieldError("consentOutcome", "unknown consent outcome %q (one of consented, degraded, declined)", s)
	}
	return o, nil
}

var aadstsPattern = regexp.MustCompile(`\bAADSTS\d{4,9}\b`)

// RecordConsentDeclined notes that Microsoft sent the admin back with an
// error (error=access_denied and an AADSTS code in error_description,
// reference/identity-graph.md). The status does not change: nothing was
// granted. The stored error is the AADSTS code when there is one, else the
// OAuth error code, bounded.
func (t *Tenant) RecordConsentDeclined(errorCode, description string, now time.Time) {
	code := aadstsPattern.FindString(description)
	if code == "" {
		code = CleanDisplayText(errorCode)
		if r := []rune(code); len(r) > 100 {
			code = string(r[:100])
		}
	}
	t.LastConsentOutcome, t.LastConsentError, t.LastConsentAt = ConsentOutcomeDeclined, code, now
	t.UpdatedAt = now
}
