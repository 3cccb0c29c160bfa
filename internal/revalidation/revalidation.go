// Package revalidation re-checks every consented tenant's consent on a
// schedule: the timer lists tenants (streaming) and fans out batches; each
// batch checks its tenants with bounded concurrency. Only transitions are
// written and alerted; transient failures never change a status and alert
// operations only after several consecutive runs.
package revalidation

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
)

// Service runs revalidation.
type Service struct {
	Store     domain.TenantStore
	Checker   domain.ConsentChecker
	Publisher queue.Publisher
	OpsEmails []string
	// BatchSize tenants per message; Concurrency checks at once per batch;
	// BatchInterval spaces scheduled batches to spread Graph load.
	BatchSize     int
	Concurrency   int
	BatchInterval time.Duration
	// AlertAfter consecutive transient failures (in distinct runs) alert ops.
	AlertAfter int
	// ReminderDelay is provisioning's consent-reminder delay, and
	// SweepGrace how long provisioning gets to send consent emails itself
	// before the sweep (sweep.go) completes them (default 1 h).
	ReminderDelay time.Duration
	SweepGrace    time.Duration
	// LiveReminderAfter: a consented tenant not live after this long gets
	// one reminder (sweep.go); zero sends none.
	LiveReminderAfter time.Duration
	// CheckTimeout bounds one tenant's check attempt.
	CheckTimeout time.Duration
	// Attempts per tenant and run for transient failures (default 3); the
	// wait between attempts (the server's Retry-After, else a short
	// back-off) is spent outside the Graph slots.
	Attempts int
	// Rechecks spaces the re-checks of a pending consent verification
	// (zero: domain.DefaultRecheckSchedule).
	Rechecks domain.RecheckSchedule
	Now      func() time.Time
	Logger   *slog.Logger

	slotsOnce sync.Once
	slots     chan struct{}

	rolesUnknownRuns onceSet // runs already warned about unreadable tokens
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

// listPageSize is how many tenants one listing call returns; memory stays
// bounded by this and BatchSize, whatever the tenant count.
const listPageSize = 500

// StartRun lists the tenants to check and enqueues batches. runID must be the
// same for the same schedule occurrence (see RunID), so a tick fired twice
// publishes one set of batches.
func (s *Service) StartRun(ctx context.Context, runID, trigger string) (*domain.RevalidationRun, error) {
	now := s.Now().UTC()
	run := &domain.RevalidationRun{RunID: runID, StartedAt: now, Trigger: trigger}
	err := s.Store.CreateRevalidationRun(ctx, run)
	if domain.ErrorCode(err) == domain.CodeConflict {
		existing, getErr := s.Store.GetRevalidationRun(ctx, runID)
		if getErr != nil {
			return nil, fmt.Errorf("load run %s: %w", runID, getErr)
		}
		if !existing.FinishedAt.IsZero() {
			s.Logger.Info("revalidation run already fanned out; nothing to do", "runId", runID)
			return existing, nil
		}
		// An earlier attempt stopped part-way: list again. Batch message
		// IDs are deterministic, so batches already sent are dropped as
		// duplicates.
		run = existing
	} else if err != nil {
		return nil, fmt.Errorf("record run %s: %w", runID, err)
	}

	filter := domain.TenantFilter{Statuses: []domain.Status{domain.StatusConsented, domain.StatusDegraded, domain.StatusRevoked, domain.StatusProvisioned}}
	var pending []string
	tenants, batches := 0, 0
	sweptLinks, sweptReminders, sweptLive := 0, 0, 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		b := domain.RevalidationBatch{SchemaVersion: 1, RunID: runID, Batch: batches, TenantIDs: pending}
		// Batch i waits i intervals, so the checks spread over time and
		// the app-wide Graph budget shared by all customers is not spent
		// in one burst. The first batch goes at once.
		var at func(int) time.Time
		if delay := time.Duration(batches) * s.BatchInterval; delay > 0 {
			at = func(int) time.Time { return run.StartedAt.Add(delay) }
		}
		if err := queue.PublishRevalidation(ctx, s.Publisher, []domain.RevalidationBatch{b}, at); err != nil {
			return err
		}
		batches++
		pending = nil
		return nil
	}
	continuation := ""
	for {
		page, err := s.Store.ListTenants(ctx, filter, listPageSize, continuation)
		if err != nil {
			return nil, fmt.Errorf("list tenants for run %s: %w", runID, err)
		}
		for _, t := range page.Items {
			if t.Status == domain.StatusProvisioned && !t.VerificationPending {
				// Never consented: nothing to re-validate, but its
				// consent emails may need completing (sweep.go).
				swept := s.sweepTenant(ctx, t, runID)
				sweptLinks, sweptReminders = sweptLinks+swept.ConsentLinks, sweptReminders+swept.Reminders
				continue
			}
			if s.sweepLive(ctx, t, runID) {
				sweptLive++
			}
			pending = append(pending, t.TenantID)
			tenants++
			if len(pending) >= s.BatchSize {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		if page.Next == "" {
			break
		}
		continuation = page.Next
	}
	if err := flush(); err != nil {
		return nil, err
	}
	run.Tenants, run.Batches, run.FinishedAt = tenants, batches, s.Now().UTC()
	if err := s.Store.UpdateRevalidationRun(ctx, run); err != nil && domain.ErrorCode(err) != domain.CodePreconditionFailed {
		return nil, fmt.Errorf("record run %s totals: %w", runID, err)
	}
	s.Logger.Info("revalidation run fanned out", "runId", runID, "tenants", tenants, "batches", batches,
		"sweptConsentLinks", sweptLinks, "sweptReminders", sweptReminders, "liveReminders", sweptLive)
	return run, nil
}

// BatchResult summarises one batch.
type BatchResult struct {
	Checked, Transitions, TransientFailures, Skipped int
}

// HandleBatch checks every tenant of a batch message. A store failure fails
// the batch (it is redelivered and re-checked idempotently); a tenant's
// transient check failure is recorded on the tenant and does not.
func (s *Service) HandleBatch(ctx context.Context, body []byte) (BatchResult, error) {
	b, err := domain.DecodeRevalidationBatch(body)
	if err != nil {
		// Its ID derives from the body, so a redelivery records it once.
		rej := domain.Rejection{ID: rejections.ID("revalidation", "", body), At: s.Now().UTC(), Source: "queue:" + queue.Revalidation,
			Field: domain.ErrorField(err), Reason: err.Error(), BodyPrefix: domain.BodyPrefix(body, rejections.BodyPrefixBytes)}
		rec := rejections.Recorder{Store: s.Store, Outbox: queue.Outbox{Publisher: s.Publisher}, OpsEmails: s.OpsEmails, Logger: s.Logger}
		if _, err := rec.Record(ctx, rej, "Revalidation batch rejected", true); err != nil {
			return BatchResult{}, fmt.Errorf("record rejected batch: %w", err)
		}
		return BatchResult{}, nil
	}
	var (
		mu       sync.Mutex
		res      BatchResult
		firstErr error
		wg       sync.WaitGroup
	)
	// One goroutine per tenant (a batch is small and bounded); the Graph
	// slots bound the actual concurrency.
	for _, id := range b.TenantIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := CheckOptions{RunID: b.RunID, LowPriority: true, Actor: "system:revalidation"}
			if rc, ok := domain.ParseRecheck(b, id); ok {
				o.Recheck = &rc
			}
			out, err := s.CheckTenant(ctx, id, o)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case out.Skipped:
				res.Skipped++
			default:
				res.Checked++
				if out.Transition {
					res.Transitions++
				}
				if out.TransientFailure {
					res.TransientFailures++
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	s.addToRun(ctx, b.RunID, res)
	return res, nil
}

func (s *Service) addToRun(ctx context.Context, runID string, res BatchResult) {
	for range 10 {
		run, err := s.Store.GetRevalidationRun(ctx, runID)
		if err != nil {
			if domain.ErrorCode(err) != domain.CodeNotFound {
				s.Logger.Warn("could not update run counters", "runId", runID, "err", err)
			}
			return
		}
		run.Checked += res.Checked
		run.Transitions += res.Transitions
		run.Failures += res.TransientFailures
		err = s.Store.UpdateRevalidationRun(ctx, run)
		if err == nil || domain.ErrorCode(err) != domain.CodePreconditionFailed {
			return
		}
	}
}

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
			s.alertOps(ctx, "ops-alert:check-error:"+o.RunID+":"+shortHash(err.Error()), "Consent checks fail on our side", err.Error(), t.TenantID,
				map[string]string{"runId": o.RunID})
			return out, nil
		}
		out.TransientFailure, out.Error = true, err.Error()
		// A failed re-check does not end the chain: the next one is due.
		if attempt := recheckAttempt(t, o); attempt > 0 && attempt < s.rechecks().Attempts {
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

// warnRolesUnknown tells operations once per run that Graph's access tokens
// could not be read as JWTs (Microsoft may change their format), so checks
// rest on the service principal alone. The alert key dedupes across batches
// and instances; the in-process set saves the repeated publishes.
func (s *Service) warnRolesUnknown(ctx context.Context, runID, tenantID string) {
	if runID == "" {
		s.Logger.Warn("consent check cannot read the Graph token's roles; verdict rests on the service principal", "tenantId", tenantID)
		return
	}
	if !s.rolesUnknownRuns.add(runID) {
		return
	}
	s.Logger.Warn("consent checks cannot read the Graph token's roles; verdicts rest on the service principal", "runId", runID, "tenantId", tenantID)
	s.alertOps(ctx, "ops-alert:roles-unknown:"+runID, "Consent checks cannot read granted roles",
		"Microsoft Graph access tokens could not be decoded as JWTs in revalidation run "+runID+
			" (first seen for tenant "+tenantID+"). Checks fall back to the service principal (present and enabled); granted roles are recorded as unknown.",
		tenantID, map[string]string{"runId": runID})
}

// onceSet remembers recent keys (bounded: old runs need no memory).
type onceSet struct {
	mu   sync.Mutex
	keys map[string]bool
}

// add reports whether key is new.
func (o *onceSet) add(key string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys[key] {
		return false
	}
	if o.keys == nil || len(o.keys) >= 64 {
		o.keys = map[string]bool{}
	}
	o.keys[key] = true
	return true
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

// targetStatus maps a definitive check to the status it means for t, or ""
// for no change.
func targetStatus(t *domain.Tenant, c domain.ConsentCheck) domain.Status {
	switch c.Outcome {
	case domain.CheckConsented:
		if c.RolesUnknown && t.Status == domain.StatusDegraded && len(t.MissingRoles) > 0 {
			return "" // roles unreadable: no evidence the missing ones were granted
		}
		return domain.StatusConsented
	case domain.CheckDegraded:
		return domain.StatusDegraded
	case domain.CheckRevoked:
		if t.Status == domain.StatusProvisioned {
			return "" // consent never arrived; nothing was revoked
		}
		return domain.StatusRevoked
	case domain.CheckTenantGone:
		// Confirm twice: only a second run in a row makes it definitive.
		if t.Status != domain.StatusProvisioned && t.LastCheckOutcome == string(domain.CheckTenantGone) {
			return domain.StatusRevoked
		}
		return ""
	}
	return ""
}

// apply writes what the check means, then emails about a transition. The
// write comes first and is conditional on the status read, so of racing
// checks, and against an operator's concurrent suspend, only the winner
// notifies; a redelivered batch whose earlier delivery made the transition
// (and may have stopped before notifying) notifies again, keyed by the
// transition, so one email goes.
func (s *Service) apply(ctx context.Context, t *domain.Tenant, c domain.ConsentCheck, o CheckOptions, out CheckOutcome) (CheckOutcome, error) {
	if t.VerificationPending && c.NotVisibleYet() {
		return s.applyPending(ctx, t, c, o, out)
	}
	now := s.Now().UTC()
	to := targetStatus(t, c)
	if o.RunID != "" && o.Recheck == nil && t.LastCheckRunID == o.RunID && to == t.Status && !t.StatusChanged.IsZero() && t.StatusChanged.Equal(t.LastCheckAt) &&
		(to == domain.StatusRevoked || to == domain.StatusDegraded) {
		return out, s.notifyTransition(ctx, t, "", c)
	}
	transition := to != "" && to != t.Status && domain.CanTransition(t.Status, to)
	needsWrite := transition || t.ConsecutiveCheckFailures > 0 || t.LastCheckError != "" ||
		(c.Outcome == domain.CheckTenantGone) != (t.LastCheckOutcome == string(domain.CheckTenantGone)) ||
		(t.VerificationPending && c.Outcome != domain.CheckRevoked) || t.RolesUnknown != c.RolesUnknown ||
		(to == domain.StatusDegraded && !c.RolesUnknown && !slices.Equal(t.MissingRoles, c.MissingRoles))
	if !needsWrite {
		return out, nil
	}
	from := t.Status
	updated, err := domain.UpdateTenant(ctx, s.Store, t.TenantID, func(cur *domain.Tenant) (bool, error) {
		if cur.Status != from {
			return false, errRaced
		}
		if transition {
			if _, err := cur.SetStatus(to, c.Detail, now); err != nil {
				return false, err
			}
			if to == domain.StatusConsented && cur.ConsentedAt.IsZero() {
				cur.ConsentedAt = now
			}
		}
		cur.RecordCheck(c, o.RunID, now)
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

func (s *Service) rechecks() domain.RecheckSchedule {
	if s.Rechecks.Attempts <= 0 || s.Rechecks.First <= 0 {
		return domain.DefaultRecheckSchedule
	}
	return s.Rechecks
}

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
	at := s.Now().UTC().Add(s.rechecks().Delay(attempt))
	b := domain.RecheckBatch(t.TenantID, t.VerificationPendingSince, attempt)
	if err := queue.PublishRevalidation(ctx, s.Publisher, []domain.RevalidationBatch{b}, func(int) time.Time { return at }); err != nil {
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
	sched := s.rechecks()
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
			cur.LastCheckAt, cur.LastCheckOutcome, cur.LastCheckError, cur.LastCheckRunID = now, "pending", truncate("not visible yet: "+c.Detail, 500), o.RunID
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
	if err := s.publishOpsAlert(ctx, "ops-alert:verification-incomplete:"+t.TenantID+":"+strconv.FormatInt(since.Unix(), 10),
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
	job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentConfirmed, TenantID: t.TenantID, Recipients: capRecipients(t.ContactEmails()),
		IdempotencyKey: "consent-confirmed:" + t.TenantID + ":pending:" + strconv.FormatInt(t.VerificationPendingSince.Unix(), 10)}
	if err := queue.PublishEmail(ctx, s.Publisher, job, time.Time{}); err != nil {
		s.Logger.Error("could not enqueue consent-confirmed email", "tenantId", t.TenantID, "err", err)
		return
	}
	s.Logger.Info("pending consent verified", "tenantId", t.TenantID, "pendingSince", t.VerificationPendingSince)
}

// notifyTransition enqueues the customer/ops emails for the transition t
// has just made (from is "" when no longer known), keyed by the transition.
func (s *Service) notifyTransition(ctx context.Context, t *domain.Tenant, from domain.Status, c domain.ConsentCheck) error {
	to := t.Status
	key := "->" + string(to) + ":" + t.TenantID + ":" + strconv.FormatInt(t.StatusChanged.UnixNano(), 10)
	recipients := append(t.ContactEmails(), s.OpsEmails...)
	alert := &domain.Alert{Subject: "Consent changed", Detail: c.Detail}
	switch to {
	case domain.StatusRevoked:
		return queue.PublishEmail(ctx, s.Publisher, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentRevoked, TenantID: t.TenantID,
			Recipients: capRecipients(recipients), IdempotencyKey: "consent-revoked:" + key, Alert: alert}, time.Time{})
	case domain.StatusDegraded:
		return queue.PublishEmail(ctx, s.Publisher, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentDegraded, TenantID: t.TenantID,
			Recipients: capRecipients(recipients), IdempotencyKey: "consent-degraded:" + key, Alert: alert}, time.Time{})
	case domain.StatusConsented:
		if from == domain.StatusProvisioned || from == "" {
			return nil // a pending verification completing is not news for ops
		}
		return s.publishOpsAlert(ctx, "ops-alert:recovered:"+key, "Consent recovered for "+t.CustomerName,
			fmt.Sprintf("Tenant %s is Consented again (was %s).", t.TenantID, from), t.TenantID, nil)
	}
	return nil
}

// recordFailure counts a transient failure once per run and alerts ops when
// the streak reaches AlertAfter runs.
func (s *Service) recordFailure(ctx context.Context, tenantID, runID string, cause error) error {
	now := s.Now().UTC()
	var alertKey string
	var streak int
	t, err := domain.UpdateTenant(ctx, s.Store, tenantID, func(cur *domain.Tenant) (bool, error) {
		alertKey = ""
		if runID != "" && cur.LastCheckRunID == runID && cur.LastCheckError != "" {
			return false, nil // this run already counted (redelivered batch)
		}
		if cur.ConsecutiveCheckFailures == 0 {
			cur.CheckFailingSince = now
		}
		cur.ConsecutiveCheckFailures++
		cur.LastCheckAt, cur.LastCheckError, cur.LastCheckRunID = now, truncate(cause.Error(), 500), runID
		cur.UpdatedAt = now
		streak = cur.ConsecutiveCheckFailures
		if s.AlertAfter > 0 && streak == s.AlertAfter {
			alertKey = "ops-alert:check-failing:" + cur.TenantID + ":" + strconv.FormatInt(cur.CheckFailingSince.Unix(), 10)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if alertKey != "" {
		return s.publishOpsAlert(ctx, alertKey, "Consent checks keep failing for "+t.CustomerName,
			fmt.Sprintf("The last %d consent checks of tenant %s failed for a transient reason; the status was left unchanged. Last error: %s", streak, t.TenantID, truncate(cause.Error(), 300)),
			t.TenantID, map[string]string{"since": t.CheckFailingSince.Format(time.RFC3339)})
	}
	return nil
}

func (s *Service) publishOpsAlert(ctx context.Context, key, subject, detail, tenantID string, facts map[string]string) error {
	if len(s.OpsEmails) == 0 {
		return nil
	}
	return queue.PublishEmail(ctx, s.Publisher, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, TenantID: tenantID,
		Recipients: s.OpsEmails, IdempotencyKey: key, Alert: &domain.Alert{Subject: subject, Detail: detail, Facts: facts}}, time.Time{})
}

func (s *Service) alertOps(ctx context.Context, key, subject, detail, tenantID string, facts map[string]string) {
	if err := s.publishOpsAlert(ctx, key, subject, detail, tenantID, facts); err != nil {
		s.Logger.Error("could not enqueue ops alert", "key", key, "err", err)
	}
}

func (s *Service) audit(ctx context.Context, e domain.AuditEvent) {
	e.ID = domain.NewID()
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.Logger.Error("audit write failed", "tenantId", e.TenantID, "action", e.Action, "err", err)
	}
}

func capRecipients(r []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range r {
		if !seen[e] && len(out) < 20 {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// truncate cuts on a character boundary (the store refuses invalid UTF-8).
func truncate(s string, n int) string { return domain.Truncate(s, n) }

// shortHash keys an alert by the error text, so one run alerts once per
// distinct problem.
func shortHash(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}
