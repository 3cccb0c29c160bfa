package adminapi

import (
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

// The response shapes are spelled out here rather than reusing the domain
// structs' JSON, so a new domain field (say, a secret) never leaks into the
// API unnoticed, and openapi.yaml has one fixed thing to describe.

type tenantView struct {
	TenantID                 string        `json:"tenantId"`
	Status                   domain.Status `json:"status"`
	StatusReason             string        `json:"statusReason,omitempty"`
	StatusChangedAt          time.Time     `json:"statusChangedAt,omitzero"`
	SuspendedFrom            domain.Status `json:"suspendedFrom,omitempty"`
	CustomerName             string        `json:"customerName"`
	PrimaryDomain            string        `json:"primaryDomain,omitempty"`
	PrimaryDomainUnicode     string        `json:"primaryDomainUnicode,omitempty"`
	Region                   string        `json:"region"`
	AppID                    string        `json:"appId"`
	TenantKey                string        `json:"tenantKey"`
	TenantKeyCode            string        `json:"tenantKeyCode"`
	InstructionURI           string        `json:"instructionUri"`
	AllowedIPs               []string      `json:"allowedIps"`
	Contacts                 []contactView `json:"contacts"`
	LastRequestID            string        `json:"lastRequestId,omitempty"`
	InviteIssuedAt           time.Time     `json:"inviteIssuedAt,omitzero"`
	InviteExpiresAt          time.Time     `json:"inviteExpiresAt,omitzero"`
	ConsentedAt              time.Time     `json:"consentedAt,omitzero"`
	GrantedRoles             []string      `json:"grantedRoles,omitempty"`
	MissingRoles             []string      `json:"missingRoles,omitempty"`
	VerificationPending      bool          `json:"verificationPending"`
	RolesUnknown             bool          `json:"rolesUnknown,omitempty"`
	LastConsentOutcome       string        `json:"lastConsentOutcome,omitempty"`
	LastConsentError         string        `json:"lastConsentError,omitempty"`
	LastConsentAt            time.Time     `json:"lastConsentAt,omitzero"`
	LastCheckAt              time.Time     `json:"lastCheckAt,omitzero"`
	LastCheckOutcome         string        `json:"lastCheckOutcome,omitempty"`
	LastCheckError           string        `json:"lastCheckError,omitempty"`
	ConsecutiveCheckFailures int           `json:"consecutiveCheckFailures"`
	StatusLinkIssuedAt       time.Time     `json:"statusLinkIssuedAt,omitzero"`
	LiveSince                time.Time     `json:"liveSince,omitzero"`
	LastInviteSeen           time.Time     `json:"lastInviteSeen,omitzero"`
	NotLiveAfterConsent      bool          `json:"notLiveAfterConsent,omitempty"`
	CreatedAt                time.Time     `json:"createdAt"`
	UpdatedAt                time.Time     `json:"updatedAt"`
	// ETag is the HTTP entity-tag of this version, for If-Match.
	ETag string `json:"etag"`
}

type contactView struct {
	Name  string             `json:"name,omitempty"`
	Email string             `json:"email"`
	Role  domain.ContactRole `json:"role"`
}

func viewTenant(t *domain.Tenant) tenantView {
	v := tenantView{
		TenantID: t.TenantID, Status: t.Status, StatusReason: t.StatusReason, StatusChangedAt: t.StatusChanged,
		SuspendedFrom: t.SuspendedFrom, CustomerName: t.CustomerName, PrimaryDomain: t.PrimaryDomain, Region: t.Region,
		AppID: t.AppID, TenantKey: t.TenantKey, TenantKeyCode: t.TenantKeyCode, InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI),
		AllowedIPs: make([]string, 0, len(t.AllowedIPs)), Contacts: make([]contactView, 0, len(t.Contacts)),
		LastRequestID: t.LastRequestID, InviteIssuedAt: t.InviteIssuedAt, InviteExpiresAt: t.InviteExpiresAt,
		ConsentedAt: t.ConsentedAt, GrantedRoles: t.GrantedRoles, MissingRoles: t.MissingRoles,
		VerificationPending: t.VerificationPending, RolesUnknown: t.RolesUnknown, LastCheckAt: t.LastCheckAt, LastCheckOutcome: t.LastCheckOutcome,
		LastCheckError: t.LastCheckError, ConsecutiveCheckFailures: t.ConsecutiveCheckFailures,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, ETag: httpETag(t.ETag),
		PrimaryDomainUnicode: t.PrimaryDomainUnicode, LastConsentOutcome: string(t.LastConsentOutcome),
		LastConsentError: t.LastConsentError, LastConsentAt: t.LastConsentAt,
		StatusLinkIssuedAt: t.StatusLinkIssuedAt, LiveSince: t.LiveSince, LastInviteSeen: t.LastInviteSeen,
	}
	for _, p := range t.AllowedIPs {
		v.AllowedIPs = append(v.AllowedIPs, p.String())
	}
	for _, c := range t.Contacts {
		v.Contacts = append(v.Contacts, contactView(c))
	}
	return v
}

type provisionView struct {
	Outcome string     `json:"outcome"`
	Tenant  tenantView `json:"tenant"`
}

// pageView is every listing's shape; Continuation is null on the last page.
type pageView[T any] struct {
	Items        []T     `json:"items"`
	Continuation *string `json:"continuation"`
}

func viewPage[S, T any](p domain.Page[S], view func(S) T) pageView[T] {
	out := pageView[T]{Items: make([]T, 0, len(p.Items))}
	for _, item := range p.Items {
		out.Items = append(out.Items, view(item))
	}
	if p.Next != "" {
		next := p.Next
		out.Continuation = &next
	}
	return out
}

type auditView struct {
	ID         string            `json:"id"`
	TenantID   string            `json:"tenantId"`
	At         time.Time         `json:"at"`
	Action     string            `json:"action"`
	Actor      string            `json:"actor"`
	ActorName  string            `json:"actorName,omitempty"`
	FromStatus domain.Status     `json:"fromStatus,omitempty"`
	ToStatus   domain.Status     `json:"toStatus,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	SourceIP   string            `json:"sourceIp,omitempty"`
	Details    map[string]string `json:"details,omitempty"`
}

func viewAudit(e domain.AuditEvent) auditView {
	return auditView{ID: e.ID, TenantID: e.TenantID, At: e.At, Action: e.Action, Actor: e.Actor, ActorName: e.ActorName,
		FromStatus: e.FromState, ToStatus: e.ToState, Reason: e.Reason, SourceIP: e.SourceIP, Details: e.Details}
}

type rejectionView struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Source     string    `json:"source"`
	MessageID  string    `json:"messageId,omitempty"`
	RequestID  string    `json:"requestId,omitempty"`
	TenantID   string    `json:"tenantId,omitempty"`
	Field      string    `json:"field,omitempty"`
	Reason     string    `json:"reason"`
	BodyPrefix string    `json:"bodyPrefix,omitempty"`
}

func viewRejection(r domain.Rejection) rejectionView { return rejectionView(r) }

type runView struct {
	RunID             string    `json:"runId"`
	Trigger           string    `json:"trigger"`
	StartedAt         time.Time `json:"startedAt"`
	ListedAt          time.Time `json:"listedAt,omitzero"`
	Tenants           int       `json:"tenants"`
	Batches           int       `json:"batches"`
	Checked           int       `json:"checked"`
	Transitions       int       `json:"transitions"`
	TransientFailures int       `json:"transientFailures"`
}

func viewRun(r *domain.RevalidationRun) runView {
	return runView{RunID: r.RunID, Trigger: r.Trigger, StartedAt: r.StartedAt, ListedAt: r.FinishedAt, Tenants: r.Tenants,
		Batches: r.Batches, Checked: r.Checked, Transitions: r.Transitions, TransientFailures: r.Failures}
}

type checkView struct {
	Outcome      domain.CheckOutcome `json:"outcome"`
	Roles        []string            `json:"roles"`
	MissingRoles []string            `json:"missingRoles"`
	SPEnabled    bool                `json:"servicePrincipalEnabled"`
	Detail       string              `json:"detail,omitempty"`
	AADSTS       int                 `json:"aadsts,omitempty"`
	RolesUnknown bool                `json:"rolesUnknown,omitempty"`
}

type revalidationView struct {
	TenantID         string        `json:"tenantId"`
	Skipped          bool          `json:"skipped"`
	SkipReason       string        `json:"skipReason,omitempty"`
	Check            *checkView    `json:"check,omitempty"`
	From             domain.Status `json:"from"`
	To               domain.Status `json:"to"`
	Transition       bool          `json:"transition"`
	TransientFailure bool          `json:"transientFailure"`
	Error            string        `json:"error,omitempty"`
}

func viewRevalidation(o revalidation.CheckOutcome) revalidationView {
	v := revalidationView{TenantID: o.TenantID, Skipped: o.Skipped, SkipReason: o.SkipReason, From: o.From, To: o.To,
		Transition: o.Transition, TransientFailure: o.TransientFailure, Error: o.Error}
	if o.Check != nil {
		v.Check = &checkView{Outcome: o.Check.Outcome, Roles: nonNil(o.Check.Roles), MissingRoles: nonNil(o.Check.MissingRoles),
			SPEnabled: o.Check.SPEnabled, Detail: o.Check.Detail, AADSTS: o.Check.AADSTS, RolesUnknown: o.Check.RolesUnknown}
	}
	return v
}

type consentLinkView struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type consentLinkEmailView struct {
	EmailQueued bool      `json:"emailQueued"`
	Recipients  []string  `json:"recipients"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
