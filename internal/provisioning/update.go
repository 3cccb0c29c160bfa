// Update: create the tenant or apply a later request to it, audit the
// change, and publish the consent emails it calls for.

package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

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

// applyUpdate applies a later request to an existing tenant: contacts, IPs,
// name and domain change; the key, region and app never do. It runs in
// domain.UpdateLoadedTenant's bounded loop: the checks and the change are
// applied again to a fresh read when another writer got there first.
func (s *Service) applyUpdate(ctx context.Context, t *domain.Tenant, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord, src Source) (tenantChange, error) {
	var (
		applied, createdByThis bool
		changes                map[string]string
		before                 []domain.Contact
	)
	t, err := domain.UpdateLoadedTenant(ctx, s.Store, t, func(t *domain.Tenant) (bool, error) {
		if t.Status == domain.StatusOffboarded {
			return false, &domain.Error{Code: domain.CodeConflict, Field: "tenantId", Message: "tenant " + t.TenantID + " was offboarded; it cannot be provisioned again"}
		}
		if t.Region != req.Region {
			return false, &domain.Error{Code: domain.CodeConflict, Field: "region",
				Message: fmt.Sprintf("tenant %s is served from region %q; moving it to %q needs an operator", t.TenantID, t.Region, req.Region)}
		}
		// A tenant created at this request's receipt time was created by
		// it, even when a later request has been applied since (this
		// attempt's predecessor died before publishing the consent emails):
		// then it is done too, and must not put its older values back.
		createdByThis = t.CreatedAt.Equal(rec.ReceivedAt)
		applied = t.LastRequestID == req.RequestID || createdByThis
		if applied {
			return false, nil
		}
		changes = diff(t, req)
		before = t.AdminContacts()
		t.CustomerName, t.PrimaryDomain, t.PrimaryDomainUnicode = req.CustomerName, req.PrimaryDomain, req.PrimaryDomainUnicode
		t.Contacts, t.AllowedIPs = req.Contacts, req.AdminIPs
		t.LastRequestID = req.RequestID
		t.UpdatedAt = rec.ReceivedAt
		t.Emit(domain.EventUpdated, domain.ChangedFields(changes))
		return true, nil
	})
	if errors.Is(err, domain.ErrUpdateContended) {
		// Not the request's fault: let the message be redelivered.
		return tenantChange{}, domain.Wrap(domain.CodeUnavailable, err, "update tenant %s", req.TenantID)
	}
	if err != nil {
		return tenantChange{}, err
	}
	if applied {
		// Applied already (a redelivery, or a concurrent delivery that
		// won). Whether admins changed is not known any more, so the link
		// is re-published; its key de-duplicates it. The audit row is
		// written again in case the earlier attempt died before it: same
		// ID and time, so at most once.
		if createdByThis {
			s.auditProvisioned(ctx, t, req, rec, src)
		} else {
			s.auditLog().Record(ctx, domain.AuditEvent{
				ID: "updated-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
				Action: "tenant.updated", Actor: actor(src, req), ActorName: src.ActorName,
				Reason:  "provisioning request " + req.RequestID,
				Details: map[string]string{"recordedBy": "a retry; the changes were applied by an attempt that did not audit them"},
			})
		}
		return tenantChange{tenant: t, created: createdByThis, adminsChanged: true}, nil
	}
	adminsChanged := !slices.Equal(before, t.AdminContacts())
	if adminsChanged {
		changes["adminContactsChanged"] = "true"
	}
	s.auditLog().Record(ctx, domain.AuditEvent{
		ID: "updated-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
		Action: "tenant.updated", Actor: actor(src, req), ActorName: src.ActorName,
		Reason: "provisioning request " + req.RequestID, Details: changes,
	})
	return tenantChange{tenant: t, adminsChanged: adminsChanged}, nil
}

// auditProvisioned writes the tenant.provisioned event. Its ID and time come
// from the request and its record, so the first write and any retry (after
// a crash between creating the tenant and auditing) write the same row once.
func (s *Service) auditProvisioned(ctx context.Context, t *domain.Tenant, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord, src Source) {
	s.auditLog().Record(ctx, domain.AuditEvent{
		ID: "provisioned-" + req.RequestID, TenantID: t.TenantID, At: rec.ReceivedAt,
		Action: "tenant.provisioned", Actor: actor(src, req), ActorName: src.ActorName,
		ToState: domain.StatusProvisioned, Reason: "provisioning request " + req.RequestID,
		Details: map[string]string{"tenantKey": t.TenantKey, "region": t.Region, "instructionUri": t.InstructionURI, "adminIps": prefixList(t.AllowedIPs)},
	})
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
	if err := s.Outbox.SendEmail(ctx, domain.ConsentLinkJob(t.TenantID, admins), time.Time{}); err != nil {
		return err
	}
	if !ch.created {
		return nil
	}
	return s.Outbox.SendEmail(ctx, domain.ConsentReminderJob(t.TenantID, admins, req.RequestID), rec.ReceivedAt.Add(s.ReminderDelay))
}

// auditLog is where provisioning's audit rows go. Their IDs and times are
// derived from the request, so a retry writes the same row (conflict =
// already there).
func (s *Service) auditLog() domain.AuditLog {
	return domain.AuditLog{Store: s.Store, Logger: s.Logger, Now: s.Now}
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
