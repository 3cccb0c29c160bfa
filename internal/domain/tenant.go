package domain

import (
	"net/netip"
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

	LastCheckAt              time.Time `json:"lastCheckAt,omitzero"`
	LastCheckOutcome         string    `json:"lastCheckOutcome,omitempty"`
	LastCheckError           string    `json:"lastCheckError,omitempty"`
	ConsecutiveCheckFailures int       `json:"consecutiveCheckFailures,omitempty"`
	// LastCheckRunID lets a redelivered batch count a failure once per run.
	LastCheckRunID string `json:"lastCheckRunId,omitempty"`
	// CheckFailingSince is when the current streak of failed checks began.
	CheckFailingSince time.Time `json:"checkFailingSince,omitzero"`

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
	if c.Outcome == CheckConsented || c.Outcome == CheckDegraded {
		t.GrantedRoles, t.MissingRoles = slices.Clone(c.Roles), slices.Clone(c.MissingRoles)
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
