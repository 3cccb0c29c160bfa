package revalidation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// One tenant: check its consent (retries, Graph slots), apply what the
// verdict means (domain.Tenant.Verdict and ApplyCheck, the re-check chain of
// a pending verification), and tell the customer about a transition.

// CheckOptions describe one tenant check.
type CheckOptions struct {
	RunID       string // "" for an on-demand check
	LowPriority bool
	Actor       string
	ActorName   string
	// Recheck is set when the check is a re-check of a pending consent
	// verification (see domain.RecheckSchedule).
	Recheck *domain.Recheck
}

// CheckOutcome is what one tenant check did.
type CheckOutcome struct {
	TenantID         string               `json:"tenantId"`
	Skipped          bool                 `json:"skipped,omitempty"`
	SkipReason       string               `json:"skipReason,omitempty"`
	Check            *domain.ConsentCheck `json:"check,omitempty"`
	From             domain.Status        `json:"from"`
	To               domain.Status        `json:"to"`
	Transition       bool                 `json:"transition"`
	TransientFailure bool                 `json:"transientFailure,omitempty"`
	Error            string               `json:"error,omitempty"`
}

// CheckTenant checks one tenant and applies what the answer means.
func (s *Service) CheckTenant(ctx context.Context, tenantID string, o CheckOptions) (CheckOutcome, error) {
	out := CheckOutcome{TenantID: tenantID}
	t, err := s.Store.GetTenant(ctx, tenantID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		out.Skipped, out.SkipReason = true, "tenant not found"
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("load tenant %s: %w", tenantID, err)
	}
	out.From, out.To = t.Status, t.Status
	if t.Status == domain.StatusSuspended || t.Status == domain.StatusOffboarded {
		out.Skipped, out.SkipReason = true, "tenant is "+string(t.Status)
		return out, nil
	}
	check, err := s.checkWithRetries(ctx, t, o)
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if !domain.IsTransient(err) {
			// Our own credential problem: the tenant is not at fault.
			out.Error = err.Error()
			s.alertOps(ctx, domain.OpsAlertKey("check-error", o.RunID, errorKey(err)), "Consent checks fail on our side", err.Error(), t.TenantID,
				map[string]string{"runId": o.RunID})
			return out, nil
		}
		out.TransientFailure, out.Error = true, err.Error()
		// A failed re-check does not end the chain: the next one is due.
		if attempt := recheckAttempt(t, o); attempt > 0 && attempt < s.Rechecks.OrDefault().Attempts {
			if err := s.scheduleRecheck(ctx, t, attempt+1); err != nil {
				return out, err
			}
		}
		return out, s.recordFailure(ctx, t.TenantID, o.RunID, err)
	}
	out.Check = &check
	if check.RolesUnknown {
		s.warnRolesUnknown(ctx, o.RunID, t.TenantID)
	}
	return s.apply(ctx, t, check, o, out)
}

// maxRetryWait bounds an in-run wait for Retry-After; longer waits leave the
// tenant to the next run.
const maxRetryWait = 30 * time.Second

// graphSlots is the process-wide limit on concurrent consent checks: batches
// the host runs side by side share it, so Graph never sees more than
// Concurrency requests from one instance.
func (s *Service) graphSlots() chan struct{} {
	s.slotsOnce.Do(func() { s.slots = make(chan struct{}, max(1, s.Concurrency)) })
	return s.slots
}

// checkWithRetries runs the consent check in a Graph slot, retrying
// transient failures after the server's Retry-After without holding a slot.
func (s *Service) checkWithRetries(ctx context.Context, t *domain.Tenant, o CheckOptions) (domain.ConsentCheck, error) {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	for attempt := 1; ; attempt++ {
		// Only the first attempt needs a fresh token; a retry after a
		// throttled Graph call reuses it.
		check, err := s.checkInSlot(ctx, t, o, attempt == 1)
		if err == nil || !domain.IsTransient(err) || attempt >= attempts || ctx.Err() != nil {
			return check, err
		}
		wait := domain.RetryAfter(err)
		if wait == 0 {
			wait = time.Duration(attempt) * 500 * time.Millisecond
		}
		if wait > maxRetryWait {
			return check, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return check, err
		case <-timer.C:
		}
	}
}

func (s *Service) checkInSlot(ctx context.Context, t *domain.Tenant, o CheckOptions, fresh bool) (domain.ConsentCheck, error) {
	slots := s.graphSlots()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return domain.ConsentCheck{}, ctx.Err()
	}
	defer func() { <-slots }()
	if s.CheckTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.CheckTimeout)
		defer cancel()
	}
	// Fresh: a cached token's roles claim can be up to an hour old, and a
	// re-check exists to see changes. On the 6-hour schedule cached tokens
	// have expired anyway, so this costs no extra token request.
	return s.Checker.CheckConsent(ctx, t.TenantID, t.AppID, domain.CheckOptions{LowPriority: o.LowPriority, Fresh: fresh})
}

// apply writes what the check means, then emails about a transition. The
// write comes first and is conditional on the status read, so of racing
// checks, and against an operator's concurrent suspend, only the winner
// notifies; a redelivered batch whose earlier delivery made the transition
// (and may have stopped before notifying) notifies again, keyed by the
// transition, so one email goes.
func (s *Service) apply(ctx context.Context, t *domain.Tenant, c domain.ConsentCheck, o CheckOptions, out CheckOutcome) (CheckOutcome, error) {
	verdict := t.Verdict(c, false)
	if verdict.Pending {
		return s.applyPending(ctx, t, c, o, out)
	}
	now := s.Now().UTC()
	to := verdict.To
	if o.RunID != "" && o.Recheck == nil && t.LastCheckRunID == o.RunID && to == t.Status && !t.StatusChanged.IsZero() && t.StatusChanged.Equal(t.LastCheckAt) &&
		(to == domain.StatusRevoked || to == domain.StatusDegraded) {
		return out, s.notifyTransition(ctx, t, "", c)
	}
	transition := to != "" && to != t.Status
	needsWrite := transition || t.ConsecutiveCheckFailures > 0 || t.LastCheckError != "" ||
		(c.Outcome == domain.CheckTenantGone) != (t.LastCheckOutcome == string(domain.CheckTenantGone)) ||
		(t.VerificationPending && c.Outcome != domain.CheckRevoked) || t.RolesUnknown != c.RolesUnknown ||
		(to == domain.StatusDegraded && !c.RolesUnknown && !slices.Equal(t.MissingRoles, c.MissingRoles))
	if !needsWrite {
		return out, nil
	}
	from := t.Status
	updated, err := domain.UpdateTenant(ctx, s.Store, t.TenantID, func(cur *domain.Tenant) (bool, error) {
		// The verdict is re-read on the record being written: when
		// another writer changed what the check means, its write stands.
		if cur.Status != from || cur.Verdict(c, false) != verdict {
			return false, errRaced
		}
		if _, err := cur.ApplyCheck(c, now); err != nil {
			return false, err
		}
		cur.LastCheckRunID = o.RunID
		return true, nil
	})
	if errors.Is(err, errRaced) {
		// Another check moved the tenant first; its write stands.
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if t.VerificationPending && c.Outcome == domain.CheckConsented {
		s.confirmPending(ctx, t)
	}
	if transition {
		if err := s.notifyTransition(ctx, updated, from, c); err != nil {
			return out, err
		}
		out.To, out.Transition = updated.Status, true
		s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.revalidated", Actor: o.Actor, ActorName: o.ActorName,
			FromState: from, ToState: updated.Status, Reason: c.Detail,
			Details: map[string]string{"outcome": string(c.Outcome), "missingRoles": strings.Join(c.MissingRoles, " "), "runId": o.RunID}})
		s.Logger.Info("consent status changed", "tenantId", t.TenantID, "from", from, "to", updated.Status, "outcome", c.Outcome)
	}
	return out, nil
}

var errRaced = errors.New("tenant changed by another check")

// recheckAttempt is the attempt number when o re-checks the verification t
// has pending now, else 0 (a scheduled or manual check, or a re-check left
// over from an earlier pending callback).
func recheckAttempt(t *domain.Tenant, o CheckOptions) int {
	if o.Recheck == nil || !o.Recheck.Of(t) {
		return 0
	}
	return o.Recheck.Attempt
}

// scheduleRecheck publishes re-check `attempt`; its message ID is fixed per
// attempt, so a redelivered batch schedules it once.
func (s *Service) scheduleRecheck(ctx context.Context, t *domain.Tenant, attempt int) error {
	at := s.Now().UTC().Add(s.Rechecks.OrDefault().Delay(attempt))
	b := domain.RecheckBatch(t.TenantID, t.VerificationPendingSince, attempt)
	if err := s.Outbox.ScheduleRevalidation(ctx, []domain.RevalidationBatch{b}, func(int) time.Time { return at }); err != nil {
		return fmt.Errorf("schedule consent re-check %d of tenant %s: %w", attempt, t.TenantID, err)
	}
	return nil
}

// applyPending handles a check of a pending verification that still does
// not show the grant. Until the last re-check that is replication lag: the
// tenant stays pending and the next re-check is scheduled. After it, the
// roles that are still missing are a finding for operations (our own app
// registration may lack a permission), never a request to the admin to
// consent again.
func (s *Service) applyPending(ctx context.Context, t *domain.Tenant, c domain.ConsentCheck, o CheckOptions, out CheckOutcome) (CheckOutcome, error) {
	now := s.Now().UTC()
	sched := s.Rechecks.OrDefault()
	attempt := recheckAttempt(t, o)
	final := attempt >= sched.Attempts || (attempt == 0 && !now.Before(t.VerificationPendingSince.Add(sched.Window())))
	since := t.VerificationPendingSince
	from := t.Status
	samePending := func(cur *domain.Tenant) bool {
		return cur.Status == from && cur.VerificationPending && cur.VerificationPendingSince.Equal(since)
	}
	if !final {
		if attempt > 0 {
			if err := s.scheduleRecheck(ctx, t, attempt+1); err != nil {
				return out, err
			}
		}
		_, err := domain.UpdateTenant(ctx, s.Store, t.TenantID, func(cur *domain.Tenant) (bool, error) {
			if !samePending(cur) {
				return false, errRaced
			}
			cur.LastCheckAt, cur.LastCheckOutcome, cur.LastCheckError, cur.LastCheckRunID = now, "pending", domain.Truncate("not visible yet: "+c.Detail, 500), o.RunID
			cur.MissingRoles = slices.Clone(c.MissingRoles)
			cur.UpdatedAt = now
			return true, nil
		})
		if err != nil && !errors.Is(err, errRaced) {
			return out, err
		}
		s.Logger.Info("consent verification still pending", "tenantId", t.TenantID, "attempt", attempt, "of", sched.Attempts,
			"outcome", c.Outcome, "missingRoles", strings.Join(c.MissingRoles, " "))
		return out, nil
	}
	missing := strings.Join(c.MissingRoles, ", ")
	detail := fmt.Sprintf("Microsoft reported admin consent for tenant %s (app %s) at %s, but %d re-checks over %s never showed the grant.",
		t.TenantID, t.AppID, since.Format(time.RFC3339), sched.Attempts, sched.Window())
	if c.Outcome == domain.CheckRevoked {
		detail += " The app's service principal is still not in the tenant: " + c.Detail
	} else {
		detail += " Roles still missing from the token: " + missing + ". Admin consent grants every permission the app registration requests at once, " +
			"so check that our app registration requests these application permissions, then send the admin a new consent link. The admin was not asked to consent again."
	}
	if err := s.publishOpsAlert(ctx, domain.OpsAlertKey("verification-incomplete", t.TenantID, strconv.FormatInt(since.Unix(), 10)),
		"Consent verification incomplete for "+t.CustomerName, detail, t.TenantID,
		map[string]string{"appId": t.AppID, "missingRoles": missing, "pendingSince": since.Format(time.RFC3339)}); err != nil {
		return out, err
	}
	to := domain.Status("")
	if c.Outcome == domain.CheckDegraded && domain.CanTransition(from, domain.StatusDegraded) {
		to = domain.StatusDegraded
	}
	updated, err := domain.UpdateTenant(ctx, s.Store, t.TenantID, func(cur *domain.Tenant) (bool, error) {
		if !samePending(cur) {
			return false, errRaced
		}
		if to != "" {
			if _, err := cur.SetStatus(to, c.Detail, now); err != nil {
				return false, err
			}
		}
		cur.RecordCheck(c, o.RunID, now)
		cur.VerificationPending, cur.VerificationPendingSince = false, time.Time{}
		return true, nil
	})
	if errors.Is(err, errRaced) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.To, out.Transition = updated.Status, updated.Status != from
	s.audit(ctx, domain.AuditEvent{TenantID: t.TenantID, At: now, Action: "consent.verification-incomplete", Actor: o.Actor, ActorName: o.ActorName,
		FromState: from, ToState: updated.Status, Reason: c.Detail,
		Details: map[string]string{"outcome": string(c.Outcome), "missingRoles": strings.Join(c.MissingRoles, " "), "runId": o.RunID,
			"pendingSince": since.Format(time.RFC3339)}})
	s.Logger.Warn("consent verification incomplete after the last re-check", "tenantId", t.TenantID, "from", from, "to", updated.Status,
		"outcome", c.Outcome, "missingRoles", strings.Join(c.MissingRoles, " "))
	return out, nil
}

// confirmPending sends the consent-confirmed email the pending page
// promised. It is keyed by the pending verification, so racing checks send
// one; it goes after the write because the email is only sent to a
// Consented tenant.
func (s *Service) confirmPending(ctx context.Context, t *domain.Tenant) {
	if err := s.Outbox.SendEmail(ctx, domain.PendingConsentConfirmedJob(t), time.Time{}); err != nil {
		s.Logger.Error("could not enqueue consent-confirmed email", "tenantId", t.TenantID, "err", err)
		return
	}
	s.Logger.Info("pending consent verified", "tenantId", t.TenantID, "pendingSince", t.VerificationPendingSince)
}

// notifyTransition enqueues the customer/ops emails for the transition t
// has just made (from is "" when no longer known), keyed by the transition.
func (s *Service) notifyTransition(ctx context.Context, t *domain.Tenant, from domain.Status, c domain.ConsentCheck) error {
	recipients := append(t.ContactEmails(), s.OpsEmails...)
	if job, ok := domain.TransitionJob(t, recipients, domain.Alert{Subject: "Consent changed", Detail: c.Detail}); ok {
		return s.Outbox.SendEmail(ctx, job, time.Time{})
	}
	if t.Status == domain.StatusConsented {
		if from == domain.StatusProvisioned || from == "" {
			return nil // a pending verification completing is not news for ops
		}
		return s.publishOpsAlert(ctx, domain.OpsAlertKey("recovered", domain.TransitionKey(t)), "Consent recovered for "+t.CustomerName,
			fmt.Sprintf("Tenant %s is Consented again (was %s).", t.TenantID, from), t.TenantID, nil)
	}
	return nil
}
