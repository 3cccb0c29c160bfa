package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

// timerBinding is the trigger binding name in functions/RevalidateConsent/function.json.
const timerBinding = "timer"

// handleRevalidateConsent is the timer: it fans out this tick's batches.
func (s *Server) handleRevalidateConsent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readInvokeRequest(r)
		if err != nil {
			s.failInvocation(w, "RevalidateConsent", err)
			return
		}
		raw, _ := bindingData(req, timerBinding)
		timer := timerInfo(raw)
		runID, err := revalidation.RunID(s.Config.RevalidationSchedule, s.Now())
		if err != nil {
			s.failInvocation(w, "RevalidateConsent", err)
			return
		}
		callStart := s.Now().UTC()
		run, err := s.Revalidation.StartRun(r.Context(), runID, "timer")
		if err != nil {
			// Timer functions are not redelivered: the next tick (or a
			// manual run) picks the work up; the log says why.
			s.failInvocation(w, "RevalidateConsent", err)
			return
		}
		if !run.FinishedAt.IsZero() && run.StartedAt.Before(callStart) {
			// A second tick (or a manual run) for the same schedule occurrence.
			writeInvokeOK(w, []string{fmt.Sprintf("revalidation run %s was already fanned out at %s (%d tenants in %d batches): de-duplicated, nothing sent (past due: %v)",
				run.RunID, run.FinishedAt.Format(time.RFC3339), run.Tenants, run.Batches, timer.IsPastDue)}, nil)
			return
		}
		writeInvokeOK(w, []string{fmt.Sprintf("revalidation run %s: %d tenants in %d batches (past due: %v)", run.RunID, run.Tenants, run.Batches, timer.IsPastDue)}, nil)
	})
}
