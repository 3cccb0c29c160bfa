package handlers

import (
	"fmt"
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// batchBinding is the trigger binding name in functions/RevalidateBatch/function.json.
const batchBinding = "msg"

// handleRevalidateBatch is the serviceBusTrigger on queue revalidation.
func (s *Server) handleRevalidateBatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readInvokeRequest(r)
		if err != nil {
			s.failInvocation(w, "RevalidateBatch", err)
			return
		}
		raw, err := bindingData(req, batchBinding)
		if err != nil {
			s.failInvocation(w, "RevalidateBatch", err)
			return
		}
		body := queueBody(raw)
		res, err := s.Revalidation.HandleBatch(r.Context(), body)
		switch {
		case err == nil:
		case domain.IsTransient(err):
			s.retryLater(w, r, newDelivery("RevalidateBatch", queue.Revalidation, req, body), err)
			return
		default:
			s.failInvocation(w, "RevalidateBatch", err)
			return
		}
		writeInvokeOK(w, []string{fmt.Sprintf("batch checked %d tenants: %d transitions, %d transient failures, %d skipped", res.Checked, res.Transitions, res.TransientFailures, res.Skipped)}, nil)
	})
}
