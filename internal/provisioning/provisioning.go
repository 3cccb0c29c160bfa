// Package provisioning turns a CRM provisioning request into a provisioned
// tenant: record, unique tenant key, instruction URI, allow-listed admin IPs,
// audit trail, consent-link email and reminder. Every step is idempotent so a
// redelivered or concurrently delivered request has the effect of once.
package provisioning

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Service provisions tenants.
type Service struct {
	Store         domain.TenantStore
	Outbox        domain.Outbox
	Regions       domain.Regions
	IPPolicy      domain.IPPolicy
	ReminderDelay time.Duration
	// Rejections records a request that can never succeed (and alerts
	// operations).
	Rejections domain.RejectionRecorder
	Now        func() time.Time
	Logger     *slog.Logger
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
