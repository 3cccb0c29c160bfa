package revalidation

import (
	"context"
	"fmt"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The fan-out: a timer tick lists the tenants to check (streaming, page by
// page) and schedules them as batches spread over time; the sweep (sweep.go)
// rides along for the Provisioned tenants the checks skip.

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
		if err := s.Outbox.ScheduleRevalidation(ctx, []domain.RevalidationBatch{b}, at); err != nil {
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
