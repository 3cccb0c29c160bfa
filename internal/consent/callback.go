package consent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
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
	// Replayed: a reload of a callback that had already finished; the
	// recorded result is shown again and nothing was done.
	Replayed bool
	Retry    Retry
	// Disabled: the app's service principal is disabled in the tenant.
	Disabled bool
}

// InvalidCallback is a callback that cannot be trusted (no, unknown,
// expired or replayed state; tenant mismatch). Nothing is recorded.
type InvalidCallback struct {
	Reason string
	Retry  Retry
}

func (e *InvalidCallback) Error() string { return "invalid consent callback: " + e.Reason }

// ReceiptTTL is how long after the consent link expires (or, without one,
// after the callback) a finished callback can still be reloaded; its "try
// again" link works only while the consent link does.
const ReceiptTTL = 24 * time.Hour

// callback is one callback request.
type callback struct {
	state   string
	ip      netip.Addr
	startIP string // the address that started consent
}

// Callback consumes the state exactly once, then either explains Microsoft's
// error or verifies consent through Graph before recording anything. A reload
// of a finished callback shows its recorded result again.
func (s *Service) Callback(ctx context.Context, q url.Values, ip netip.Addr) (*CallbackResult, error) {
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		return nil, s.invalid(ip, "", &InvalidCallback{Reason: "the sign-in response carried no valid state"})
	}
	cs, err := s.Store.ConsumeConsentState(ctx, HashSecret(state))
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return s.replay(ctx, q, state, ip)
	}
	if err != nil {
		return nil, fmt.Errorf("consume consent state: %w", err)
	}
	now := s.Now().UTC()
	cb := callback{state: state, ip: ip, startIP: cs.ClientIP}
	if tid := q.Get("tenant"); tid != "" && !strings.EqualFold(tid, cs.TenantID) {
		s.Logger.Warn("consent callback tenant mismatch", "tenantId", cs.TenantID, "queryTenant", tid, "ip", ip.String())
		return nil, s.invalid(ip, cs.TenantID, &InvalidCallback{Reason: "the response is for a different organisation than the one that started"})
	}
	t, err := s.Store.GetTenant(ctx, cs.TenantID)
	if err != nil {
		return nil, fmt.Errorf("load tenant %s: %w", cs.TenantID, err)
	}
	if !now.Before(cs.ExpiresAt) {
		// The tenant is known: keep a receipt so "try again" works.
		s.putReceipt(ctx, t, cb, now)
		return nil, s.invalid(ip, t.TenantID, &InvalidCallback{Reason: "the sign-in took longer than 10 minutes", Retry: s.retry(t, state, now)})
	}
	// A suspended or offboarded tenant gets nothing, whatever Microsoft says.
	if !t.ConsentLinkUsable() {
		return nil, s.refuse(ctx, &Refusal{Kind: RefusedTenantInactive, SeenIP: ip, Tenant: t, LinkProven: true, Stage: StageCallback, StartIP: cs.ClientIP}, now)
	}
	// Dual-stack and multi-egress networks return from another address than
	// they started from: any address on the tenant's allow-list will do.
	if cs.ClientIP != ip.String() && !t.AllowsIP(ip) {
		return nil, s.refuse(ctx, &Refusal{Kind: RefusedIPNotAllowed, SeenIP: ip, Tenant: t, LinkProven: true, Stage: StageCallback, StartIP: cs.ClientIP}, now)
	}
	var res *CallbackResult
	// Microsoft's failure redirects can carry admin_consent=True as well:
	// only the presence of `error` decides.
	if q.Has("error") {
		code, desc := q.Get("error"), q.Get("error_description")
		s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.declined", Actor: "customer-admin", SourceIP: ip.String(),
			Reason: code, Details: map[string]string{"errorDescription": domain.TruncateMarked(desc, 500), "startIp": cs.ClientIP}})
		// The record shows the decline (admin API filter consentOutcome=declined).
		if _, err := s.updateTenant(ctx, t.TenantID, func(t *domain.Tenant) error {
			t.RecordConsentDeclined(code, desc, now)
			return nil
		}); err != nil {
			s.Logger.Error("could not record the declined consent on the tenant", "tenantId", t.TenantID, "err", err)
		}
		res = &CallbackResult{Kind: CallbackDeclined, Tenant: t, ErrorCode: code, ErrorDescription: domain.TruncateMarked(desc, 1000)}
	} else {
		res, err = s.verify(ctx, t, cb, now)
		var refusal *Refusal
		if errors.As(err, &refusal) {
			return nil, s.refuse(ctx, refusal, now)
		}
		if err != nil {
			return nil, err
		}
	}
	if res.Kind == CallbackDeclined {
		s.Logger.Info("consent declined", "tenantId", t.TenantID, "errorCode", res.ErrorCode, "ip", ip.String(), "startIp", cs.ClientIP)
	} else {
		s.Logger.Info("consent verified", "tenantId", t.TenantID, "outcome", string(res.Kind), "ip", ip.String(), "startIp", cs.ClientIP,
			"missingRoles", strings.Join(res.MissingRoles, " "))
	}
	s.putReceipt(ctx, res.Tenant, cb, now)
	res.Retry = s.retry(res.Tenant, state, now)
	return res, nil
}

func (s *Service) invalid(ip netip.Addr, tenantID string, e *InvalidCallback) error {
	s.Logger.Info("consent callback refused", "tenantId", tenantID, "reason", e.Reason, "ip", ip.String())
	return e
}

// verify checks consent in the tenant, retrying for replication delay.
func (s *Service) verify(ctx context.Context, t *domain.Tenant, cb callback, started time.Time) (*CallbackResult, error) {
	deadline := started.Add(s.VerifyTimeout)
	var last domain.ConsentCheck
	var lastErr error
	for attempt := 0; ; attempt++ {
		check, err := s.Checker.CheckConsent(ctx, t.TenantID, t.AppID, domain.CheckOptions{Fresh: true})
		last, lastErr = check, err
		if err == nil && check.Outcome == domain.CheckConsented {
			return s.record(ctx, t.TenantID, check, cb)
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
	if lastErr != nil {
		return s.recordPending(ctx, t.TenantID, last, lastErr, cb)
	}
	switch v := t.Verdict(last, true); {
	case v.NotGranted:
		// Our app still has no service principal in the tenant after the
		// whole wait: consent did not arrive. Nothing is recorded; the
		// admin is told it was not granted.
		return s.notGranted(ctx, t, last, cb)
	case v.Pending:
		// Missing roles right after a consent Microsoft reported are
		// replication lag: re-check later, never ask the admin to
		// consent again.
		return s.recordPending(ctx, t.TenantID, last, lastErr, cb)
	}
	// Consented, or a real finding (a disabled service principal).
	return s.record(ctx, t.TenantID, last, cb)
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

// recordOnActive applies change to the tenant unless, by the time of the
// write, it has been suspended or offboarded: then nothing is written and a
// *Refusal is returned. The ETag-checked write makes a concurrent suspend win.
func (s *Service) recordOnActive(ctx context.Context, tenantID string, cb callback, change func(*domain.Tenant) error) (*domain.Tenant, error) {
	return s.updateTenant(ctx, tenantID, func(t *domain.Tenant) error {
		if !t.ConsentLinkUsable() {
			return &Refusal{Kind: RefusedTenantInactive, SeenIP: cb.ip, Tenant: t, LinkProven: true, Stage: StageCallback, StartIP: cb.startIP}
		}
		return change(t)
	})
}

// record applies the verified check (domain.Tenant.ApplyConsentCallback):
// Consented, with the consent-confirmed email, or Degraded.
func (s *Service) record(ctx context.Context, tenantID string, check domain.ConsentCheck, cb callback) (*CallbackResult, error) {
	now := s.Now().UTC()
	var applied domain.CheckApplied
	t, err := s.recordOnActive(ctx, tenantID, cb, func(t *domain.Tenant) error {
		var err error
		applied, err = t.ApplyConsentCallback(check, now)
		if err == nil && applied.To != domain.StatusConsented && applied.To != domain.StatusDegraded {
			// The verdict depends on the check alone; verify decided it.
			err = domain.Errorf(domain.CodeInternal, "consent callback of tenant %s: verdict %+v is not recordable", tenantID, applied.CheckVerdict)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if applied.To == domain.StatusDegraded {
		s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.degraded", Actor: "customer-admin", SourceIP: cb.ip.String(),
			FromState: applied.From, ToState: t.Status, Reason: check.Detail,
			Details: map[string]string{"missingRoles": strings.Join(check.MissingRoles, " "), "startIp": cb.startIP}})
		return &CallbackResult{Kind: CallbackDegraded, Tenant: t, GrantedRoles: check.Roles, MissingRoles: check.MissingRoles, Disabled: !check.SPEnabled}, nil
	}
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.verified", Actor: "customer-admin", SourceIP: cb.ip.String(),
		FromState: applied.From, ToState: t.Status, Reason: "admin consent verified through Microsoft Graph",
		Details: map[string]string{"roles": strings.Join(check.Roles, " "), "statusChanged": strconv.FormatBool(applied.Changed), "startIp": cb.startIP}})
	if err := s.Outbox.SendEmail(ctx, domain.ConsentConfirmedJob(t, now), time.Time{}); err != nil {
		// The consent is recorded; the email can be re-sent by an operator.
		s.Logger.Error("could not enqueue consent-confirmed email", "tenantId", t.TenantID, "err", err)
	}
	return &CallbackResult{Kind: CallbackGranted, Tenant: t, GrantedRoles: check.Roles}, nil
}

func (s *Service) notGranted(ctx context.Context, t *domain.Tenant, check domain.ConsentCheck, cb callback) (*CallbackResult, error) {
	s.Logger.Info("consent callback: app not in tenant after verification", "tenantId", t.TenantID, "aadsts", check.AADSTS, "ip", cb.ip.String())
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: s.Now().UTC(), Action: "consent.not-granted", Actor: "customer-admin", SourceIP: cb.ip.String(),
		Reason: domain.TruncateMarked(check.Detail, 500), Details: map[string]string{"aadsts": strconv.Itoa(check.AADSTS), "startIp": cb.startIP}})
	return &CallbackResult{Kind: CallbackDeclined, Tenant: t, ErrorDescription: domain.TruncateMarked(check.Detail, 1000)}, nil
}

// recordPending keeps the status, marks verification pending and schedules
// the first of the re-checks (revalidation schedules the rest, with
// back-off; see domain.RecheckSchedule).
func (s *Service) recordPending(ctx context.Context, tenantID string, last domain.ConsentCheck, lastErr error, cb callback) (*CallbackResult, error) {
	now := s.Now().UTC()
	reason := "consent not visible yet: " + string(last.Outcome)
	if len(last.MissingRoles) > 0 {
		reason += " (roles not in the token yet: " + strings.Join(last.MissingRoles, ", ") + ")"
	}
	if lastErr != nil {
		reason = "verification failed for now: " + lastErr.Error()
	}
	t, err := s.recordOnActive(ctx, tenantID, cb, func(t *domain.Tenant) error {
		if !t.VerificationPending {
			t.Emit(domain.EventVerificationPending, nil)
		}
		t.VerificationPending, t.VerificationPendingSince = true, now
		t.LastCheckAt, t.LastCheckOutcome, t.LastCheckError = now, "pending", domain.TruncateMarked(reason, 500)
		t.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	rechecks := s.Rechecks.OrDefault()
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.verification-pending", Actor: "customer-admin", SourceIP: cb.ip.String(),
		Reason: domain.TruncateMarked(reason, 500), Details: map[string]string{"startIp": cb.startIP, "rechecks": strconv.Itoa(rechecks.Attempts),
			"missingRoles": strings.Join(last.MissingRoles, " ")}})
	batch := domain.RecheckBatch(t.TenantID, t.VerificationPendingSince, 1)
	at := now.Add(rechecks.Delay(1))
	if err := s.Outbox.ScheduleRevalidation(ctx, []domain.RevalidationBatch{batch}, func(int) time.Time { return at }); err != nil {
		// The scheduled re-validation run still picks a pending tenant up.
		s.Logger.Error("could not schedule consent re-check", "tenantId", t.TenantID, "err", err)
	}
	return &CallbackResult{Kind: CallbackPending, Tenant: t, MissingRoles: last.MissingRoles}, nil
}

// receiptHash is where a finished callback's receipt is stored: derived
// from the state, never equal to a state's own hash, so a receipt can never
// be consumed as a state.
func receiptHash(state string) string { return HashSecret("receipt:" + state) }

// putReceipt remembers that the callback with this state finished, for a
// reload of the page and its "try again" link.
func (s *Service) putReceipt(ctx context.Context, t *domain.Tenant, cb callback, now time.Time) {
	expires := now
	if t.InviteExpiresAt.After(expires) {
		expires = t.InviteExpiresAt
	}
	expires = expires.Add(ReceiptTTL)
	r := domain.ConsentState{StateHash: receiptHash(cb.state), TenantID: t.TenantID, ClientIP: cb.ip.String(), CreatedAt: now, ExpiresAt: expires}
	if err := s.Store.PutConsentState(ctx, r); err != nil {
		s.Logger.Warn("could not store consent receipt; a reload will not show the result", "tenantId", t.TenantID, "err", err)
	}
}

// replay answers a callback whose state is used up: when it is a reload of a
// finished callback, the recorded result is shown again from the tenant
// record, without Graph and without writing anything.
func (s *Service) replay(ctx context.Context, q url.Values, state string, ip netip.Addr) (*CallbackResult, error) {
	used := &InvalidCallback{Reason: "this sign-in response was already used or is unknown"}
	rec, err := s.Store.GetConsentState(ctx, receiptHash(state))
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, s.invalid(ip, "", used)
	}
	if err != nil {
		return nil, fmt.Errorf("load consent receipt: %w", err)
	}
	now := s.Now().UTC()
	if !now.Before(rec.ExpiresAt) {
		return nil, s.invalid(ip, rec.TenantID, used)
	}
	t, err := s.Store.GetTenant(ctx, rec.TenantID)
	if err != nil {
		return nil, fmt.Errorf("load tenant %s: %w", rec.TenantID, err)
	}
	if rec.ClientIP != ip.String() && !t.AllowsIP(ip) {
		return nil, s.invalid(ip, t.TenantID, used)
	}
	if !t.ConsentLinkUsable() {
		// Not audited: a reload changes nothing.
		return nil, &Refusal{Kind: RefusedTenantInactive, SeenIP: ip, Tenant: t, LinkProven: true, Stage: StageCallback}
	}
	res := &CallbackResult{Tenant: t, Replayed: true, Retry: s.retry(t, state, now)}
	switch {
	case q.Has("error"):
		res.Kind, res.ErrorCode, res.ErrorDescription = CallbackDeclined, q.Get("error"), domain.TruncateMarked(q.Get("error_description"), 1000)
	case t.Status == domain.StatusConsented:
		res.Kind, res.GrantedRoles = CallbackGranted, t.GrantedRoles
	case t.VerificationPending:
		res.Kind = CallbackPending
	case t.Status == domain.StatusDegraded:
		// Degraded with every role granted means disabled.
		res.Kind, res.GrantedRoles, res.MissingRoles, res.Disabled = CallbackDegraded, t.GrantedRoles, t.MissingRoles, len(t.MissingRoles) == 0
	default:
		used.Retry = res.Retry
		return nil, s.invalid(ip, t.TenantID, used)
	}
	s.Logger.Info("consent result shown again", "tenantId", t.TenantID, "outcome", string(res.Kind), "ip", ip.String())
	return res, nil
}
