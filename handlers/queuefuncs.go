package handlers

import (
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// Binding names in functions/<Name>/function.json.
const (
	provisionBinding = "msg"
	emailBinding     = "msg"
	batchBinding     = "msg"
	timerBinding     = "timer"
)

// handleProvisionTenant is the serviceBusTrigger on queue provisioning.
// Permanent problems complete the message (a rejection is recorded and ops
// alerted); transient ones complete it and re-send it later (retryLater);
// internal errors fail the invocation so Service Bus redelivers.
func (s *Server) handleProvisionTenant() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readInvokeRequest(r)
		if err != nil {
			s.failInvocation(w, "ProvisionTenant", err)
			return
		}
		raw, err := bindingData(req, provisionBinding)
		if err != nil {
			s.failInvocation(w, "ProvisionTenant", err)
			return
		}
		info := messageInfo(req.Metadata)
		body := queueBody(raw)
		res, err := s.Provisioning.Provision(r.Context(), body, provisioning.Source{Kind: "queue", MessageID: info.MessageID})
		switch {
		case err == nil:
			writeInvokeOK(w, []string{"provisioning " + string(res.Outcome) + ": tenant " + res.Tenant.TenantID + ", key " + res.Tenant.TenantKey}, nil)
		case domain.IsTransient(err):
			s.retryLater(w, r, newDelivery("ProvisionTenant", queue.Provisioning, req, body), err)
		case domain.ErrorCode(err) == domain.CodeInternal:
			s.failInvocation(w, "ProvisionTenant", err)
		default:
			writeInvokeOK(w, []string{"provisioning request rejected, not retried (the rejection log line says whether it was recorded): " + err.Error()}, nil)
		}
	})
}

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

// failInvocation answers non-2xx so the host abandons the message. The host
// discards the body, so the reason is logged here.
func (s *Server) failInvocation(w http.ResponseWriter, function string, err error) {
	s.Logger.Error("invocation failed; the message will be redelivered", "function", function, "err", err, "transient", domain.IsTransient(err))
	writeInvokeFailure(w, err)
}
