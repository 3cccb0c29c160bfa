package domain

import (
	"context"
	"net/netip"
	"time"
)

// AuditEvent is one entry of a tenant's audit trail.
type AuditEvent struct {
	ID       string    `json:"id"`
	TenantID string    `json:"tenantId"`
	At       time.Time `json:"at"`
	// Action is a short verb phrase: "tenant.provisioned", "consent.verified", ...
	Action string `json:"action"`
	// Actor is who or what did it: "crm:<requestId>", "operator:<oid>",
	// "system:revalidation", "customer-admin".
	Actor     string `json:"actor"`
	ActorName string `json:"actorName,omitempty"`
	FromState Status `json:"fromStatus,omitempty"`
	ToState   Status `json:"toStatus,omitempty"`
	Reason    string `json:"reason,omitempty"`
	SourceIP  string `json:"sourceIp,omitempty"`
	// Details holds small extra facts (no secrets).
	Details map[string]string `json:"details,omitempty"`
}

// Invite is a unique consent link, stored under the SHA-256 of its token.
type Invite struct {
	TokenHash string
	TenantID  string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// StatusLink is a tenant status-page capability, stored under the SHA-256 of
// its token. It works while Generation is the tenant's StatusLinkGeneration.
type StatusLink struct {
	TokenHash  string
	TenantID   string
	Generation int
	IssuedAt   time.Time
}

// ConsentState is a one-time OAuth `state`, stored under its SHA-256, bound to
// the tenant and the caller IP that started consent.
type ConsentState struct {
	StateHash string
	TenantID  string
	ClientIP  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ProvisioningRecord remembers a CRM requestId so the same request has the
// effect of once, however often it is delivered.
type ProvisioningRecord struct {
	RequestID   string    `json:"requestId"`
	TenantID    string    `json:"tenantId"`
	BodyHash    string    `json:"bodyHash"`
	ReceivedAt  time.Time `json:"receivedAt"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
	// KeyCode is the tenant-key candidate chosen for this request, so every
	// retry tries the same key first.
	KeyCode string `json:"keyCode,omitempty"`
	Outcome string `json:"outcome,omitempty"` // "created", "updated", "unchanged"
	ETag    string `json:"-"`
}

// MailRecord de-duplicates email jobs by idempotency key. While a delivery
// works on the job, Owner names it (the message ID) and LeaseEnds says until
// when its claim holds unless renewed.
type MailRecord struct {
	Key       string
	Status    string // "sending", "submitting", "sent", "failed", "skipped", "retry"
	Owner     string
	Kind      EmailKind
	TenantID  string
	LeaseEnds time.Time
	UpdatedAt time.Time
	Detail    string
	ETag      string
}

// RevalidationRun records one scheduled (or manual) re-validation run.
type RevalidationRun struct {
	RunID       string    `json:"runId"`
	StartedAt   time.Time `json:"startedAt"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"` // when the fan-out finished
	Trigger     string    `json:"trigger"`
	Tenants     int       `json:"tenants"`
	Batches     int       `json:"batches"`
	Checked     int       `json:"checked"`
	Transitions int       `json:"transitions"`
	Failures    int       `json:"transientFailures"`
	ETag        string    `json:"-"`
}

// TenantFilter narrows a tenant listing. Empty fields match everything.
type TenantFilter struct {
	Statuses []Status
	Region   string
	// Text matches customer name or primary domain (either form),
	// case-insensitively.
	Text string
	// ConsentOutcome matches the last consent attempt's outcome.
	ConsentOutcome ConsentOutcome
}

// Page is one page of a listing; Next is empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// TenantStore persists tenants and everything keyed by them. Implementations
// return *Error values: CodeNotFound, CodeConflict (insert of an existing
// key), CodePreconditionFailed (stale ETag), CodeUnavailable (transient).
type TenantStore interface {
	Ping(ctx context.Context) error

	CreateTenant(ctx context.Context, t *Tenant) error
	GetTenant(ctx context.Context, tenantID string) (*Tenant, error)
	// UpdateTenant replaces the record if t.ETag is still current, and sets
	// t.ETag to the new version.
	UpdateTenant(ctx context.Context, t *Tenant) error
	ListTenants(ctx context.Context, f TenantFilter, pageSize int, continuation string) (Page[*Tenant], error)

	// ReserveTenantKey inserts the reservation if absent. Reserving a code
	// the same tenant already holds succeeds; a code held by another tenant
	// is CodeConflict.
	ReserveTenantKey(ctx context.Context, code, tenantID string) error
	TenantKeyOwner(ctx context.Context, code string) (string, error)

	// SetAllowedIPs makes the IP index hold exactly `prefixes` for the tenant.
	SetAllowedIPs(ctx context.Context, tenantID string, prefixes []netip.Prefix) error
	// SetAllowedIPsAs is SetAllowedIPs on behalf of owner (a request ID): a
	// retry of the same owner re-enters its own lease at once.
	SetAllowedIPsAs(ctx context.Context, tenantID, owner string, prefixes []netip.Prefix) error
	// TenantsAllowingIP lists the tenants whose allow-list contains addr.
	TenantsAllowingIP(ctx context.Context, addr netip.Addr) ([]string, error)

	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit pages a tenant's audit trail, newest first.
	ListAudit(ctx context.Context, tenantID string, pageSize int, continuation string) (Page[AuditEvent], error)

	PutInvite(ctx context.Context, inv Invite) error
	GetInvite(ctx context.Context, tokenHash string) (Invite, error)

	// PutStatusLink inserts a status-page link (idempotent for the same tenant).
	PutStatusLink(ctx context.Context, l StatusLink) error
	// GetStatusLink reads one (CodeNotFound if absent).
	GetStatusLink(ctx context.Context, tokenHash string) (StatusLink, error)

	PutConsentState(ctx context.Context, s ConsentState) error
	// GetConsentState reads a state without consuming it (CodeNotFound if absent).
	GetConsentState(ctx context.Context, stateHash string) (ConsentState, error)
	// ConsumeConsentState returns and deletes the state; of concurrent
	// callers exactly one succeeds, the others get CodeNotFound.
	ConsumeConsentState(ctx context.Context, stateHash string) (ConsentState, error)

	// CreateProvisioningRecord inserts if absent (CodeConflict otherwise).
	CreateProvisioningRecord(ctx context.Context, r *ProvisioningRecord) error
	GetProvisioningRecord(ctx context.Context, requestID string) (*ProvisioningRecord, error)
	UpdateProvisioningRecord(ctx context.Context, r *ProvisioningRecord) error

	AddRejection(ctx context.Context, r Rejection) error
	// ListRejections pages rejections, newest first.
	ListRejections(ctx context.Context, pageSize int, continuation string) (Page[Rejection], error)

	// ClaimMail inserts a "sending" record if absent; an existing record is
	// returned with CodeConflict so the caller can decide (sent → skip,
	// stale lease → take over with UpdateMail). A record already holding
	// m.Owner (an earlier try of this very call that landed) is success.
	ClaimMail(ctx context.Context, m *MailRecord) error
	GetMail(ctx context.Context, key string) (*MailRecord, error)
	UpdateMail(ctx context.Context, m *MailRecord) error

	// CreateRevalidationRun inserts if absent (CodeConflict otherwise).
	CreateRevalidationRun(ctx context.Context, r *RevalidationRun) error
	GetRevalidationRun(ctx context.Context, runID string) (*RevalidationRun, error)
	UpdateRevalidationRun(ctx context.Context, r *RevalidationRun) error
	// ListRevalidationRuns pages runs, newest first.
	ListRevalidationRuns(ctx context.Context, pageSize int, continuation string) (Page[*RevalidationRun], error)
}
