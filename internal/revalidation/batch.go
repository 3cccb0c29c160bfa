package revalidation

import (
	"context"
	"fmt"
	"sync"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A batch: the tenants of one revalidation message, checked side by side
// under the process-wide Graph slots; the run's counters add up the results.

// batchSource names the revalidation queue in a rejection record.
const batchSource = "queue:revalidation"

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
		rej := domain.Rejection{ID: domain.RejectionID("revalidation", "", body), At: s.Now().UTC(), Source: batchSource,
			Field: domain.ErrorField(err), Reason: err.Error(), BodyPrefix: domain.BodyPrefix(body, domain.RejectionBodyPrefixBytes)}
		if err := s.Rejections.RecordRejection(ctx, rej, "Revalidation batch rejected", true); err != nil {
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
