package domain

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// EventType is a lifecycle change CRM is told about. The CloudEvents type is
// EventTypePrefix + the value ("net.videosrv.cvi.tenant.consented").
type EventType string

// EventTypePrefix makes an EventType a CloudEvents type (reverse-DNS of the
// provider's trusted domain, as the CloudEvents spec recommends).
const EventTypePrefix = "net.videosrv.cvi.tenant."

const (
	EventProvisioned         EventType = "provisioned"
	EventUpdated             EventType = "updated"
	EventConsentLinkSent     EventType = "consent-link-sent"
	EventConsented           EventType = "consented"
	EventVerificationPending EventType = "verification-pending"
	EventDegraded            EventType = "degraded"
	EventRevoked             EventType = "revoked"
	EventRecovered           EventType = "recovered"
	EventLive                EventType = "live"
	EventSuspended           EventType = "suspended"
	EventResumed             EventType = "resumed"
	EventOffboarded          EventType = "offboarded"
	// EventProvisioningRejected is a provisioning request that can never
	// succeed; it is committed with the rejection record, not the tenant.
	EventProvisioningRejected EventType = "provisioning-rejected"
)

// EventTypes lists every type (contracts/events.v1.schema.json has one
// definition each).
var EventTypes = []EventType{EventProvisioned, EventUpdated, EventConsentLinkSent, EventConsented, EventVerificationPending,
	EventDegraded, EventRevoked, EventRecovered, EventLive, EventSuspended, EventResumed, EventOffboarded, EventProvisioningRejected}

// CloudEventType is the full CloudEvents type.
func (e EventType) CloudEventType() string { return EventTypePrefix + string(e) }

// statusEvents says which event a status change is: the rule lives here so
// every service that moves a tenant publishes the same way.
func statusEvent(from, to Status) (EventType, bool) {
	switch to {
	case StatusConsented:
		if from == StatusDegraded || from == StatusRevoked {
			return EventRecovered, true
		}
		return EventConsented, true
	case StatusDegraded:
		return EventDegraded, true
	case StatusRevoked:
		return EventRevoked, true
	case StatusSuspended:
		return EventSuspended, true
	case StatusOffboarded:
		return EventOffboarded, true
	}
	return "", false
}

// pendingEvent is a change recorded on a tenant and not yet committed.
type pendingEvent struct {
	typ     EventType
	details map[string]string
}

// Emit records that the change typ happened to t. The store writes it to
// the tenant's outbox in the same transaction as t (CreateTenant,
// UpdateTenant), so it is published if and only if that write commits; call
// it inside the change function of UpdateTenant, which starts again from a
// fresh read (and no pending events) after a conflict. details are small
// facts for the event's data.details.
func (t *Tenant) Emit(typ EventType, details map[string]string) {
	t.pending = append(t.pending, pendingEvent{typ: typ, details: maps.Clone(details)})
}

// HasPendingEvents reports whether a write of t must carry outbox rows.
func (t *Tenant) HasPendingEvents() bool { return len(t.pending) > 0 }

// TakeEvents turns the pending changes into outbox events numbered after
// t.EventSeq (which it advances), stamped at, with data from t as it will
// be written. The store calls it right before the write; on a failed write
// it calls RestoreEvents so a retry of the same object numbers them again.
func (t *Tenant) TakeEvents(at time.Time) ([]OutboxEvent, error) {
	out := make([]OutboxEvent, 0, len(t.pending))
	for _, p := range t.pending {
		t.EventSeq++
		data := NewEventData(t, p.details)
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, Wrap(CodeInternal, err, "encode %s event for tenant %s", p.typ, t.TenantID)
		}
		out = append(out, OutboxEvent{
			ID: TenantEventID(t.TenantID, t.EventSeq, p.typ), Type: p.typ, Partition: t.TenantID, Subject: t.TenantID,
			Seq: t.EventSeq, Time: at.UTC(), RequestID: t.LastRequestID, Data: raw,
		})
	}
	return out, nil
}

// CommittedEvents clears the pending changes once the write landed.
func (t *Tenant) CommittedEvents() { t.pending = nil }

// RestoreEvents undoes TakeEvents' numbering after a failed write.
func (t *Tenant) RestoreEvents(taken int) { t.EventSeq -= taken }

// TenantEventID is the event's idempotency key: the tenant, its change
// sequence number (stored on the tenant, advanced only by a committed
// write) and the type. A redelivered trigger either finds the change
// committed (and records nothing new) or commits it under the same number.
func TenantEventID(tenantID string, seq int, typ EventType) string {
	return fmt.Sprintf("%s/%010d/%s", tenantID, seq, typ)
}

// OutboxEvent is a committed change waiting to be (or already) published.
type OutboxEvent struct {
	ID   string
	Type EventType
	// Partition is where the outbox row lives: the tenant ID, or
	// OutboxRejections for rejected provisioning requests.
	Partition string
	Subject   string // tenant ID ("" when a rejection names none)
	Seq       int    // order within the partition
	Time      time.Time
	RequestID string
	Data      json.RawMessage
	Published bool
	// RowKey is the store's key of the outbox row (set when listed).
	RowKey string
}

// OutboxRejections is the outbox partition of rejected provisioning requests.
const OutboxRejections = "~rejections"

// EventData is the data of a tenant event: the tenant's public fields (what
// the admin API shows CRM, no secrets, no contacts) and the CRM requestId.
type EventData struct {
	TenantID            string            `json:"tenantId"`
	RequestID           string            `json:"requestId,omitempty"`
	Status              Status            `json:"status"`
	StatusReason        string            `json:"statusReason,omitempty"`
	StatusChangedAt     time.Time         `json:"statusChangedAt"`
	CustomerName        string            `json:"customerName"`
	PrimaryDomain       string            `json:"primaryDomain,omitempty"`
	Region              string            `json:"region"`
	AppID               string            `json:"appId"`
	TenantKey           string            `json:"tenantKey"`
	InstructionURI      string            `json:"instructionUri"`
	AllowedIPs          []netip.Prefix    `json:"allowedIps"`
	ConsentedAt         time.Time         `json:"consentedAt,omitzero"`
	GrantedRoles        []string          `json:"grantedRoles,omitempty"`
	MissingRoles        []string          `json:"missingRoles,omitempty"`
	VerificationPending bool              `json:"verificationPending,omitempty"`
	LastCheckAt         time.Time         `json:"lastCheckAt,omitzero"`
	Details             map[string]string `json:"details,omitempty"`
}

// NewEventData snapshots t for an event.
func NewEventData(t *Tenant, details map[string]string) EventData {
	ips := t.AllowedIPs
	if ips == nil {
		ips = []netip.Prefix{}
	}
	return EventData{
		TenantID: t.TenantID, RequestID: t.LastRequestID, Status: t.Status, StatusReason: t.StatusReason,
		StatusChangedAt: t.StatusChanged.UTC(), CustomerName: t.CustomerName, PrimaryDomain: t.PrimaryDomain, Region: t.Region,
		AppID: t.AppID, TenantKey: t.TenantKey, InstructionURI: t.InstructionURI, AllowedIPs: ips,
		ConsentedAt: t.ConsentedAt.UTC(), GrantedRoles: t.GrantedRoles, MissingRoles: t.MissingRoles,
		VerificationPending: t.VerificationPending, LastCheckAt: t.LastCheckAt.UTC(), Details: maps.Clone(details),
	}
}

// RejectionEventData is the data of a provisioning-rejected event.
type RejectionEventData struct {
	RequestID   string    `json:"requestId,omitempty"`
	TenantID    string    `json:"tenantId,omitempty"`
	RejectionID string    `json:"rejectionId"`
	Field       string    `json:"field,omitempty"`
	Reason      string    `json:"reason"`
	RejectedAt  time.Time `json:"rejectedAt"`
}

// EventOutbox is the store side of the relay: committed events not yet
// published, in order, and marking them published.
type EventOutbox interface {
	// PendingEvents lists a partition's unpublished events by Seq.
	PendingEvents(ctx context.Context, partition string) ([]OutboxEvent, error)
	// PendingEventPartitions lists partitions with unpublished events
	// (the sweep for rows a crash left behind).
	PendingEventPartitions(ctx context.Context) ([]string, error)
	MarkEventPublished(ctx context.Context, e OutboxEvent) error
}

// EventSink is told that a partition has newly committed events, so it can
// publish them at once (best effort; the sweep catches what it misses).
type EventSink interface {
	EventsCommitted(ctx context.Context, partition string)
}

// IsProvisioning reports whether the rejected message was a provisioning
// request (CRM is told of those; other rejections are internal).
func (r Rejection) IsProvisioning() bool {
	return r.Source == "queue:provisioning" || r.Source == "api" // "api": the admin API's provisioning endpoint
}

// ChangedFields is the details of an "updated" event: which fields changed
// (names only; the new values are in the event's data).
func ChangedFields(changes map[string]string) map[string]string {
	if len(changes) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(changes))
	return map[string]string{"changed": strings.Join(names, ",")}
}
