package consent

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// CallbackKind is how a consent callback ended.
type CallbackKind string

const (
	CallbackGranted  CallbackKind = "granted"
	CallbackDegraded CallbackKind = "degraded"
	CallbackPending  CallbackKind = "pending"
	CallbackDeclined CallbackKind = "declined"
)

// CallbackResult is what to show the admin.
type CallbackResult struct {
	Kind             CallbackKind
	Tenant           *domain.Tenant
	GrantedRoles     []string
	MissingRoles     []string
	ErrorCode        string
	ErrorDescription string
}

// InvalidCallback is a callback that cannot be trusted (no, unknown,
// expired or replayed state; tenant or IP mismatch). Nothing is recorded.
type InvalidCallback struct{ Reason string }

func (e *InvalidCallback) Error() string { return "invalid consent callback: " + e.Reason }

// Callback consumes the state exactly once, then either explains Microsoft's
// error or verifies consent through Graph before recording anything.
func (s *Service) Callback(ctx context.Context, q url.Values, ip netip.Addr) (*CallbackResult, error) {
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		return nil, &InvalidCallback{Reason: "the sign-in response carried no valid state"}
	}
	cs, err := s.Store.ConsumeConsentState(ctx, HashSecret(state))
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, &InvalidCallback{Reason: "this sign-in response was already used or is unknown"}
	}
	if err != nil {
		return nil, fmt.Errorf("consume consent state: %w", err)
	}
	now := s.Now().UTC()
	if !now.Before(cs.ExpiresAt) {
		return nil, &InvalidCallback{Reason: "the sign-in took longer than 10 minutes"}
	}
	if tid := q.Get("tenant"); tid != "" && !strings.EqualFold(tid, cs.TenantID) {
		s.Logger.Warn("consent callback tenant mismatch", "stateTenant", cs.TenantID, "queryTenant", tid)
		return nil, &InvalidCallback{Reason: "the response is for a different organisation than the one that started"}
	}
	if cs.ClientIP != ip.String() {
		s.Logger.Warn("consent callback from another IP", "tenantId", cs.TenantID, "startIp", cs.ClientIP, "ip", ip.String())
		return nil, &InvalidCallback{Reason: "the response came from a different network address than the one that started"}
	}
	t, err := s.Store.GetTenant(ctx, cs.TenantID)
	if err != nil {
		return nil, fmt.Errorf("load tenant %s: %w", cs.TenantID, err)
	}
	// Microsoft's failure redirects can carry admin_consent=True as well:
	// only the presence of `error` decides.
	if q.Has("error") {
		code, desc := q.Get("error"), q.Get("error_description")
		s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.declined", Actor: "customer-admin", SourceIP: ip.String(),
			Reason: code, Details: map[string]string{"errorDescription": truncate(desc, 500)}})
		// The record shows the decline (admin API filter consentOutcome=declined).
		if _, err := s.updateTenant(ctx, t.TenantID, func(t *domain.Tenant) error {
			t.RecordConsentDeclined(code, desc, now)
			return nil
		}); err != nil {
			s.Logger.Error("could not record the declined consent on the tenant", "tenantId", t.TenantID, "err", err)
		}
		return &CallbackResult{Kind: CallbackDeclined, Tenant: t, ErrorCode: code, ErrorDescription: truncate(desc, 1000)}, nil
	}
	return s.verify(ctx, t, ip, now)
}

// verify checks consent in the tenant, retrying for replication delay.
func (s *Service) verify(ctx context.Context, t *domain.Tenant, ip netip.Addr, started time.Time) (*CallbackResult, error) {
	deadline := started.Add(s.VerifyTimeout)
	var last domain.ConsentCheck
	var lastErr error
	for attempt := 0; ; attempt++ {
		check, err := s.Checker.CheckConsent(ctx, t.TenantID, t.AppID, domain.CheckOptions{Fresh: true})
		last, lastErr = check, err
		if err == nil && check.Outcome == domain.CheckConsented {
			return s.recordVerified(ctx, t.TenantID, check, ip)
		}
		if err != nil && !domain.IsTransient(err) {
			return nil, fmt.Errorf("verify consent of tenant %s: %w", t.TenantID, err)
		}
		wait := backoff(attempt)
		if s.Now().Add(wait).After(deadline) {
			break
		}
		if err := sleep(ctx, wait); err != nil {
			break
		}
	}
	// Roles that are still missing after the wait are a real partial grant.
	if lastErr == nil && last.Outcome == domain.CheckDegraded {
		return s.recordDegraded(ctx, t.TenantID, last, ip)
	}
	return s.recordPending(ctx, t.TenantID, last, lastErr, ip)
}

func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << attempt
	return min(d, 8*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (s *Service) recordVerified(ctx context.Context, tenantID string, check domain.ConsentCheck, ip netip.Addr) (*CallbackResult, error) {
	now := s.Now().UTC()
	var from domain.Status
	changed := false
	t, err := s.updateTenant(ctx, tenantID, func(t *domain.Tenant) error {
		from = t.Status
		c, err := t.SetStatus(domain.StatusConsented, "admin consent verified", now)
		if err != nil {
			return err
		}
		changed = c
		t.ConsentedAt = now
		t.RecordCheck(check, "", now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.verified", Actor: "customer-admin", SourceIP: ip.String(),
		FromState: from, ToState: t.Status, Reason: "admin consent verified through Microsoft Graph",
		Details: map[string]string{"roles": strings.Join(check.Roles, " "), "statusChanged": strconv.FormatBool(changed)}})
	job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentConfirmed, TenantID: t.TenantID, Recipients: t.ContactEmails(),
		IdempotencyKey: "consent-confirmed:" + t.TenantID + ":" + strconv.FormatInt(now.Unix(), 10)}
	if err := queue.PublishEmail(ctx, s.Publisher, job, time.Time{}); err != nil {
		// The consent is recorded; the email can be re-sent by an operator.
		s.Logger.Error("could not enqueue consent-confirmed email", "tenantId", t.TenantID, "err", err)
	}
	return &CallbackResult{Kind: CallbackGranted, Tenant: t, GrantedRoles: check.Roles}, nil
}

func (s *Service) recordDegraded(ctx context.Context, tenantID string, check domain.ConsentCheck, ip netip.Addr) (*CallbackResult, error) {
	now := s.Now().UTC()
	var from domain.Status
	t, err := s.updateTenant(ctx, tenantID, func(t *domain.Tenant) error {
		from = t.Status
		if _, err := t.SetStatus(domain.StatusDegraded, check.Detail, now); err != nil {
			return err
		}
		t.RecordCheck(check, "", now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.degraded", Actor: "customer-admin", SourceIP: ip.String(),
		FromState: from, ToState: t.Status, Reason: check.Detail, Details: map[string]string{"missingRoles": strings.Join(check.MissingRoles, " ")}})
	return &CallbackResult{Kind: CallbackDegraded, Tenant: t, GrantedRoles: check.Roles, MissingRoles: check.MissingRoles}, nil
}

// recordPending keeps the status, marks verification pending and schedules a
// re-check through the revalidation queue.
func (s *Service) recordPending(ctx context.Context, tenantID string, last domain.ConsentCheck, lastErr error, ip netip.Addr) (*CallbackResult, error) {
	now := s.Now().UTC()
	reason := "consent not visible yet: " + string(last.Outcome)
	if lastErr != nil {
		reason = "verification failed for now: " + lastErr.Error()
	}
	t, err := s.updateTenant(ctx, tenantID, func(t *domain.Tenant) error {
		t.VerificationPending = true
		t.LastCheckAt, t.LastCheckOutcome, t.LastCheckError = now, "pending", truncate(reason, 500)
		t.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.verification-pending", Actor: "customer-admin", SourceIP: ip.String(), Reason: truncate(reason, 500)})
	batch := domain.RevalidationBatch{SchemaVersion: 1, RunID: "recheck-" + t.TenantID + "-" + strconv.FormatInt(now.Unix(), 10), TenantIDs: []string{t.TenantID}}
	if err := queue.PublishRevalidation(ctx, s.Publisher, []domain.RevalidationBatch{batch}, func(int) time.Time { return now.Add(s.RecheckDelay) }); err != nil {
		s.Logger.Error("could not schedule consent re-check", "tenantId", t.TenantID, "err", err)
	}
	return &CallbackResult{Kind: CallbackPending, Tenant: t}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
