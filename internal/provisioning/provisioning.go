// Package provisioning turns a CRM provisioning request into a provisioned
// tenant: record, unique tenant key, instruction URI, allow-listed admin IPs,
// audit trail, consent-link email and reminder. Every step is idempotent so a
// redelivered or concurrently delivered request has the effect of once.
package provisioning

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"slices"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
)

// Service provisions tenants.
type Service struct {
	Store         domain.TenantStore
	Publisher     queue.Publisher
	Regions       domain.Regions
	IPPolicy      domain.IPPolicy
	ReminderDelay time.Duration
	OpsEmails     []string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Source says where a request came from, for audit and rejections.
type Source struct {
	Kind      string // "queue" or "api"
	MessageID string
	Actor     string // "crm", "operator:<oid>"
	ActorName string
}

// Outcome of a provisioning request.
type Outcome string

const (
	OutcomeCreated Outcome = "created"
	OutcomeUpdated Outcome = "updated"
	// OutcomeReplay: this requestId was processed before; nothing changed.
	OutcomeReplay Outcome = "replay"
)

// Result is what Provision did.
type Result struct {
	Outcome Outcome
	Tenant  *domain.Tenant
}

// maxKeyAttempts bounds tenant-key allocation; with 9 digits a collision is
// rare, so running out means something is wrong.
const maxKeyAttempts = 20

// Provision validates and applies one request. Permanent problems come back
// as *domain.Error with CodeInvalid/CodeConflict after a rejection has been
// recorded and operations alerted; transient ones as CodeUnavailable (the
// caller must let the message be redelivered).
func (s *Service) Provision(ctx context.Context, body []byte, src Source) (*Result, error) {
	req, err := domain.DecodeProvisioningRequest(body, s.IPPolicy, s.Regions.Has)
	if err != nil {
		return nil, s.reject(ctx, body, src, "", "", err)
	}
	region, _ := s.Regions.Lookup("region", req.Region)
	rec, err := s.claimRequest(ctx, req, body)
	if err != nil {
		if domain.IsTransient(err) {
			return nil, err
		}
		return nil, s.reject(ctx, body, src, req.RequestID, req.TenantID, err)
	}
	if !rec.CompletedAt.IsZero() {
		t, err := s.Store.GetTenant(ctx, req.TenantID)
		if err != nil {
			return nil, fmt.Errorf("load tenant %s for replay of %s: %w", req.TenantID, req.RequestID, err)
		}
		return &Result{Outcome: OutcomeReplay, Tenant: t}, nil
	}

	ch, err := s.ensureTenant(ctx, req, region, rec, src)
	if err != nil {
		if domain.IsTransient(err) {
			return nil, err
		}
		return nil, s.reject(ctx, body, src, req.RequestID, req.TenantID, err)
	}
	t := ch.tenant
	if err := s.indexAllowedIPs(ctx, t, req.RequestID); err != nil {
		return nil, err
	}
	outcome := OutcomeUpdated
	if ch.created {
		outcome = OutcomeCreated
	}
	if err := s.sendConsentEmails(ctx, ch, req, rec); err != nil {
		return nil, err
	}
	rec.CompletedAt = s.Now().UTC()
	rec.Outcome = string(outcome)
	if err := s.Store.UpdateProvisioningRecord(ctx, rec); err != nil && domain.ErrorCode(err) != domain.CodePreconditionFailed {
		// A concurrent delivery completing the same request is fine.
		return nil, fmt.Errorf("mark request %s complete: %w", req.RequestID, err)
	}
	s.Logger.Info("provisioning request applied", "requestId", req.RequestID, "tenantId", t.TenantID, "outcome", outcome, "tenantKey", t.TenantKey)
	return &Result{Outcome: outcome, Tenant: t}, nil
}

// indexAllowedIPs updates the IP index as the request (a retry of it
// re-enters its own lease at once), waiting briefly while another request
// or an operator holds the tenant's index lease.
func (s *Service) indexAllowedIPs(ctx context.Context, t *domain.Tenant, requestID string) error {
	delay := 100 * time.Millisecond
	deadline := s.Now().Add(5 * time.Second)
	for {
		err := s.Store.SetAllowedIPsAs(ctx, t.TenantID, "provisioning:"+requestID, t.AllowedIPs)
		if err == nil {
			return nil
		}
		if !domain.IsTransient(err) || s.Now().Add(delay).After(deadline) {
			return fmt.Errorf("index allowed IPs of tenant %s: %w", t.TenantID, err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("index allowed IPs of tenant %s: %w", t.TenantID, ctx.Err())
		case <-timer.C:
		}
		delay = min(delay*2, time.Second)
	}
}

// claimRequest records the requestId (insert-if-absent) or loads the earlier
// record. A requestId reused for a different body is a permanent error.
func (s *Service) claimRequest(ctx context.Context, req *domain.ProvisioningRequest, body []byte) (*domain.ProvisioningRecord, error) {
	code, err := newKeyCode(s.regionDigits(req.Region))
	if err != nil {
		return nil, err
	}
	rec := &domain.ProvisioningRecord{
		RequestID:  req.RequestID,
		TenantID:   req.TenantID,
		BodyHash:   requestHash(req),
		ReceivedAt: s.Now().UTC(),
		KeyCode:    code,
	}
	err = s.Store.CreateProvisioningRecord(ctx, rec)
	if err == nil {
		return rec, nil
	}
	if domain.ErrorCode(err) != domain.CodeConflict {
		return nil, fmt.Errorf("record request %s: %w", req.RequestID, err)
	}
	existing, err := s.Store.GetProvisioningRecord(ctx, req.RequestID)
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", req.RequestID, err)
	}
	if existing.TenantID != req.TenantID || existing.BodyHash != rec.BodyHash {
		return nil, &domain.Error{Code: domain.CodeConflict, Field: "requestId",
			Message: fmt.Sprintf("%q was already used for a different request (tenant %s); use a new requestId for a change", req.RequestID, existing.TenantID)}
	}
	return existing, nil
}

func (s *Service) regionDigits(code string) int {
	r, _ := s.Regions.Lookup("region", code)
	return r.KeyDigits()
}

// tenantChange is what ensureTenant did.
type tenantChange struct {
	tenant        *domain.Tenant
	created       bool
	adminsChanged bool
}

// ensureTenant creates the tenant with a freshly reserved key, or applies the
// request's contacts/IPs to the existing one.
func (s *Service) ensureTenant(ctx context.Context, req *domain.ProvisioningRequest, region domain.Region, rec *domain.ProvisioningRecord, src Source) (tenantChange, error) {
	t, err := s.Store.GetTenant(ctx, req.TenantID)
	switch {
	case err == nil:
		return s.applyUpdate(ctx, t, req, rec, src)
	case domain.ErrorCode(err) != domain.CodeNotFound:
		return tenantChange{}, fmt.Errorf("load tenant %s: %w", req.TenantID, err)
	}

	code, err := s.reserveKey(ctx, req, rec)
	if err != nil {
		return tenantChange{}, err
	}
	now := rec.ReceivedAt
	t = &domain.Tenant{
		TenantID:       req.TenantID,
		Status:         domain.StatusProvisioned,
		StatusReason:   "provisioning request " + req.RequestID,
		StatusChanged:  now,
		CustomerName:   req.CustomerName,
		PrimaryDomain:  req.PrimaryDomain,
		Region:         region.Code,
		AppID:          region.AppID,
		TenantKeyCode:  code,
		TenantKey:      region.TenantKey(code),
		InstructionURI: region.InstructionURI(code),
		AllowedIPs:     req.AdminIPs,
		Contacts:       req.Contacts,
		LastRequestID:  req.RequestID,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	t.PrimaryDomainUnicode = req.PrimaryDomainUnicode
	t.Emit(domain.EventProvisioned, nil)
	err = s.Store.CreateTenant(ctx, t)
	if domain.ErrorCode(err) == domain.CodeConflict {
		// A concurrent delivery of this request (or another request for
		// the same tenant) created it first.
		existing, getErr := s.Store.GetTenant(ctx, req.TenantID)
		if getErr != nil {
			return tenantChange{}, fmt.Errorf("load tenant %s after create conflict: %w", req.TenantID, getErr)
		}
		// Also our own create, applied by a try the SDK retried.
		return s.applyUpdate(ctx, existing, req, rec, src)
	}
	if err != nil {
		return tenantChange{}, fmt.Errorf("create tenant %s: %w", req.TenantID, err)
	}
	s.auditProvisioned(ctx, t, req, rec, src)
	return tenantChange{tenant: t, created: true}, nil
}

// auditProvisioned writes the tenant.provisioned event. Its ID and time come
// from the request and its record, so the first write and any retry (after
// a crash between creating the tenant and auditing) write the same row once.
func (s *Service) auditProvisioned(ctx context.Context, t *domain.Tenant, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord, src Source) {
	s.audit(ctx, domain.AuditEvent{
		ID: "provisioned-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
		Action: "tenant.provisioned", Actor: actor(src, req), ActorName: src.ActorName,
		ToState: domain.StatusProvisioned, Reason: "provisioning request " + req.RequestID,
		Details: map[string]string{"tenantKey": t.TenantKey, "region": t.Region, "instructionUri": t.InstructionURI, "adminIps": prefixList(t.AllowedIPs)},
	})
}

// reserveKey reserves rec.KeyCode for the tenant, choosing (and remembering
// on the record) another code while the candidate belongs to someone else.
func (s *Service) reserveKey(ctx context.Context, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord) (string, error) {
	for range maxKeyAttempts {
		err := s.Store.ReserveTenantKey(ctx, rec.KeyCode, req.TenantID)
		if err == nil {
			return rec.KeyCode, nil
		}
		if domain.ErrorCode(err) != domain.CodeConflict {
			return "", fmt.Errorf("reserve tenant key %s: %w", rec.KeyCode, err)
		}
		next, err := newKeyCode(s.regionDigits(req.Region))
		if err != nil {
			return "", err
		}
		rec.KeyCode = next
		if err := s.Store.UpdateProvisioningRecord(ctx, rec); err != nil {
			if domain.ErrorCode(err) != domain.CodePreconditionFailed {
				return "", fmt.Errorf("remember key candidate for %s: %w", req.RequestID, err)
			}
			// Another delivery picked a candidate first: use theirs.
			latest, err := s.Store.GetProvisioningRecord(ctx, req.RequestID)
			if err != nil {
				return "", fmt.Errorf("reload request %s: %w", req.RequestID, err)
			}
			*rec = *latest
		}
	}
	return "", domain.Errorf(domain.CodeInternal, "no free tenant key after %d attempts", maxKeyAttempts)
}

// applyUpdate applies a later request to an existing tenant: contacts, IPs,
// name and domain change; the key, region and app never do.
func (s *Service) applyUpdate(ctx context.Context, t *domain.Tenant, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord, src Source) (tenantChange, error) {
	for {
		if t.Status == domain.StatusOffboarded {
			return tenantChange{}, &domain.Error{Code: domain.CodeConflict, Field: "tenantId", Message: "tenant " + t.TenantID + " was offboarded; it cannot be provisioned again"}
		}
		if t.Region != req.Region {
			return tenantChange{}, &domain.Error{Code: domain.CodeConflict, Field: "region",
				Message: fmt.Sprintf("tenant %s is served from region %q; moving it to %q needs an operator", t.TenantID, t.Region, req.Region)}
		}
		// A tenant created at this request's receipt time was created by
		// it, even when a later request has been applied since (this
		// attempt's predecessor died before publishing the consent emails):
		// then it is done too, and must not put its older values back.
		createdByThis := t.CreatedAt.Equal(rec.ReceivedAt)
		if t.LastRequestID == req.RequestID || createdByThis {
			// Applied already (a redelivery, or a concurrent delivery
			// that won). Whether admins changed is not known any
			// more, so the link is re-published; its key de-duplicates
			// it. The audit row is written again in case the earlier
			// attempt died before it: same ID and time, so at most once.
			if createdByThis {
				s.auditProvisioned(ctx, t, req, rec, src)
			} else {
				s.audit(ctx, domain.AuditEvent{
					ID: "updated-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
					Action: "tenant.updated", Actor: actor(src, req), ActorName: src.ActorName,
					Reason:  "provisioning request " + req.RequestID,
					Details: map[string]string{"recordedBy": "a retry; the changes were applied by an attempt that did not audit them"},
				})
			}
			return tenantChange{tenant: t, created: createdByThis, adminsChanged: true}, nil
		}
		changes := diff(t, req)
		before := t.AdminContacts()
		t.CustomerName, t.PrimaryDomain, t.PrimaryDomainUnicode = req.CustomerName, req.PrimaryDomain, req.PrimaryDomainUnicode
		t.Contacts, t.AllowedIPs = req.Contacts, req.AdminIPs
		t.LastRequestID = req.RequestID
		t.UpdatedAt = rec.ReceivedAt
		t.Emit(domain.EventUpdated, domain.ChangedFields(changes))
		err := s.Store.UpdateTenant(ctx, t)
		if domain.ErrorCode(err) == domain.CodePreconditionFailed {
			if t, err = s.Store.GetTenant(ctx, req.TenantID); err != nil {
				return tenantChange{}, fmt.Errorf("reload tenant %s: %w", req.TenantID, err)
			}
			continue
		}
		if err != nil {
			return tenantChange{}, fmt.Errorf("update tenant %s: %w", req.TenantID, err)
		}
		adminsChanged := !slices.Equal(before, t.AdminContacts())
		if adminsChanged {
			changes["adminContactsChanged"] = "true"
		}
		s.audit(ctx, domain.AuditEvent{
			ID: "updated-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
			Action: "tenant.updated", Actor: actor(src, req), ActorName: src.ActorName,
			Reason: "provisioning request " + req.RequestID, Details: changes,
		})
		return tenantChange{tenant: t, adminsChanged: adminsChanged}, nil
	}
}

// sendConsentEmails enqueues the consent-link email and, for a new tenant,
// the reminder; an update re-sends the link only when the admin contacts
// changed and consent is still outstanding. Message IDs derive from the
// admin set (link) and the request (reminder), so a redelivery re-publishing
// them is dropped by duplicate detection, and SendEmail de-duplicates on
// the same key.
func (s *Service) sendConsentEmails(ctx context.Context, ch tenantChange, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord) error {
	t := ch.tenant
	if t.Status != domain.StatusProvisioned || !(ch.created || ch.adminsChanged) {
		return nil
	}
	admins := adminEmails(t)
	link := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentLink, TenantID: t.TenantID, Recipients: admins,
		IdempotencyKey: domain.ConsentLinkKey(t.TenantID, admins)}
	reminder := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: t.TenantID, Recipients: admins,
		IdempotencyKey: domain.ConsentEmailKey(domain.EmailConsentReminder, t.TenantID, req.RequestID)}
	if err := queue.PublishEmail(ctx, s.Publisher, link, time.Time{}); err != nil {
		return err
	}
	if !ch.created {
		return nil
	}
	return queue.PublishEmail(ctx, s.Publisher, reminder, rec.ReceivedAt.Add(s.ReminderDelay))
}

// reject records a permanent failure (internal/rejections: stored, ops
// alerted, logged as it happened) and returns the original error, unless
// recording failed transiently (then that error, so the message is retried
// and the retry records it once).
func (s *Service) reject(ctx context.Context, body []byte, src Source, requestID, tenantID string, cause error) error {
	rej := domain.Rejection{
		ID: rejectionID(src, body), At: s.Now().UTC(), Source: rejectionSource(src), MessageID: src.MessageID,
		RequestID: requestID, TenantID: tenantID, Field: domain.ErrorField(cause), Reason: cause.Error(),
		BodyPrefix: domain.BodyPrefix(body, rejections.BodyPrefixBytes),
	}
	if rej.RequestID == "" {
		rej.RequestID, rej.TenantID = bestEffortIDs(body)
	}
	rec := rejections.Recorder{Store: s.Store, Publisher: s.Publisher, OpsEmails: s.OpsEmails, Logger: s.Logger}
	if _, err := rec.Record(ctx, rej, "Provisioning request rejected", true); err != nil {
		return fmt.Errorf("record rejection of %s: %w", rej.ID, err)
	}
	return cause
}

// rejectionID keeps the historic form (the message ID, else a body hash),
// so a redelivery maps to the same rejection.
func rejectionID(src Source, body []byte) string {
	if src.MessageID != "" {
		return src.MessageID
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}

func rejectionSource(src Source) string {
	if src.Kind == "api" {
		return "api"
	}
	return "queue:" + queue.Provisioning
}

// bestEffortIDs pulls requestId/tenantId out of an invalid body for the
// rejection record, when they are there and plausible.
func bestEffortIDs(body []byte) (requestID, tenantID string) {
	var probe struct {
		RequestID any `json:"requestId"`
		TenantID  any `json:"tenantId"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return "", ""
	}
	if s, ok := probe.RequestID.(string); ok && domain.ValidateRequestID("requestId", s) == nil {
		requestID = s
	}
	if s, ok := probe.TenantID.(string); ok {
		if id, err := domain.NormalizeTenantID("tenantId", s); err == nil {
			tenantID = id
		}
	}
	return requestID, tenantID
}

func (s *Service) audit(ctx context.Context, e domain.AuditEvent) {
	// Audit IDs and times are derived from the request, so a retry writes
	// the same row (conflict = already there).
	if err := s.Store.AppendAudit(ctx, e); err != nil && domain.ErrorCode(err) != domain.CodeConflict {
		s.Logger.Error("audit write failed", "tenantId", e.TenantID, "action", e.Action, "err", err)
	}
}

func actor(src Source, req *domain.ProvisioningRequest) string {
	if src.Actor != "" {
		return src.Actor
	}
	return "crm:" + req.RequestID
}

func adminEmails(t *domain.Tenant) []string {
	var out []string
	for _, c := range t.AdminContacts() {
		out = append(out, c.Email)
	}
	return out
}

func diff(t *domain.Tenant, req *domain.ProvisioningRequest) map[string]string {
	d := map[string]string{}
	if t.CustomerName != req.CustomerName {
		d["customerName"] = t.CustomerName + " -> " + req.CustomerName
	}
	if t.PrimaryDomain != req.PrimaryDomain {
		d["primaryDomain"] = t.PrimaryDomain + " -> " + req.PrimaryDomain
	}
	if !slices.Equal(t.AllowedIPs, req.AdminIPs) {
		d["adminIps"] = prefixList(t.AllowedIPs) + " -> " + prefixList(req.AdminIPs)
	}
	if !slices.Equal(t.Contacts, req.Contacts) {
		d["contacts"] = "changed"
	}
	return d
}

func prefixList(ps []netip.Prefix) string {
	b, _ := json.Marshal(ps)
	return string(b)
}

// requestHash identifies the request's content independent of formatting.
func requestHash(req *domain.ProvisioningRequest) string {
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newKeyCode draws a uniformly random numeric code of the given length with a
// non-zero first digit (so it never loses digits).
func newKeyCode(digits int) (string, error) {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits-1)), nil)
	span := new(big.Int).Mul(lo, big.NewInt(9))
	n, err := rand.Int(rand.Reader, span)
	if err != nil {
		return "", domain.Wrap(domain.CodeInternal, err, "draw tenant key")
	}
	return n.Add(n, lo).String(), nil
}
