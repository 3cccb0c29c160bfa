package revalidation

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Alerts to operations: failure streaks across runs, our own credential
// problems, unreadable token roles; each keyed so one occurrence alerts once.

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
	s.alertOps(ctx, domain.OpsAlertKey("roles-unknown", runID), "Consent checks cannot read granted roles",
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
		cur.LastCheckAt, cur.LastCheckError, cur.LastCheckRunID = now, domain.Truncate(cause.Error(), 500), runID
		cur.UpdatedAt = now
		streak = cur.ConsecutiveCheckFailures
		if s.AlertAfter > 0 && streak == s.AlertAfter {
			alertKey = domain.OpsAlertKey("check-failing", cur.TenantID, strconv.FormatInt(cur.CheckFailingSince.Unix(), 10))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if alertKey != "" {
		return s.publishOpsAlert(ctx, alertKey, "Consent checks keep failing for "+t.CustomerName,
			fmt.Sprintf("The last %d consent checks of tenant %s failed for a transient reason; the status was left unchanged. Last error: %s", streak, t.TenantID, domain.Truncate(cause.Error(), 300)),
			t.TenantID, map[string]string{"since": t.CheckFailingSince.Format(time.RFC3339)})
	}
	return nil
}

func (s *Service) publishOpsAlert(ctx context.Context, key, subject, detail, tenantID string, facts map[string]string) error {
	if len(s.OpsEmails) == 0 {
		return nil
	}
	job := domain.OpsAlertJob(key, tenantID, s.OpsEmails, domain.Alert{Subject: subject, Detail: detail, Facts: facts})
	return s.Outbox.SendEmail(ctx, job, time.Time{})
}

func (s *Service) alertOps(ctx context.Context, key, subject, detail, tenantID string, facts map[string]string) {
	if err := s.publishOpsAlert(ctx, key, subject, detail, tenantID, facts); err != nil {
		s.Logger.Error("could not enqueue ops alert", "key", key, "err", err)
	}
}

// errorKey names an error in an alert key, so one run alerts once per
// distinct problem.
func errorKey(err error) string { return domain.Digest(err.Error(), 4) }
