package handlers

import (
	"net/http"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// provisionBinding is the trigger binding name in functions/ProvisionTenant/function.json.
const provisionBinding = "msg"

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
