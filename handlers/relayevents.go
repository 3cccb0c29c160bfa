package handlers

import (
	"fmt"
	"net/http"
)

// handleRelayEvents is the timer that sweeps the lifecycle-event outbox:
// events a crash or a Service Bus outage left unpublished after their
// commit go out now, in order per tenant, under their original ids.
func (s *Server) handleRelayEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := readInvokeRequest(r); err != nil {
			s.failInvocation(w, "RelayEvents", err)
			return
		}
		if s.Events == nil {
			writeInvokeOK(w, []string{"lifecycle events: no topic publisher configured; nothing relayed"}, nil)
			return
		}
		n, err := s.Events.Sweep(r.Context())
		if err != nil {
			// Not redelivered: the next tick tries again; the rows wait.
			s.failInvocation(w, "RelayEvents", fmt.Errorf("relayed %d lifecycle event(s), then: %w", n, err))
			return
		}
		if n > 0 {
			s.Logger.InfoContext(r.Context(), "lifecycle events relayed by the sweep", "published", n)
		}
		writeInvokeOK(w, []string{fmt.Sprintf("lifecycle events: %d published by the sweep", n)}, nil)
	})
}
