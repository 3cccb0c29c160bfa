package handlers

import (
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// emailBinding is the trigger binding name in functions/SendEmail/function.json.
const emailBinding = "msg"

// handleSendEmail is the serviceBusTrigger on queue email.
func (s *Server) handleSendEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readInvokeRequest(r)
		if err != nil {
			s.failInvocation(w, "SendEmail", err)
			return
		}
		raw, err := bindingData(req, emailBinding)
		if err != nil {
			s.failInvocation(w, "SendEmail", err)
			return
		}
		info := messageInfo(req.Metadata)
		body := queueBody(raw)
		d := newDelivery("SendEmail", queue.Email, req, body)
		// A back-off copy or resubmitted dead letter is the same delivery's
		// work: it claims as the original, so it re-enters that claim at once
		// instead of waiting out a lease its own predecessor left.
		outcome, err := s.Notify.Handle(r.Context(), body, d.workID())
		switch {
		case err == nil:
		case domain.IsTransient(err):
			s.retryLater(w, r, d, err)
			return
		default:
			s.failInvocation(w, "SendEmail", err)
			return
		}
		writeInvokeOK(w, []string{"email job " + info.MessageID + ": " + string(outcome)}, nil)
	})
}
