// Reject: a request that can never succeed is recorded once under its
// message (the Rejections port) and operations alerted.

package provisioning

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// reject records a permanent failure (the Rejections port: stored, ops
// alerted, logged as it happened) and returns the original error, unless
// recording failed transiently (then that error, so the message is retried
// and the retry records it once).
func (s *Service) reject(ctx context.Context, body []byte, src Source, requestID, tenantID string, cause error) error {
	rej := domain.Rejection{
		ID: rejectionID(src, body), At: s.Now().UTC(), Source: rejectionSource(src), MessageID: src.MessageID,
		RequestID: requestID, TenantID: tenantID, Field: domain.ErrorField(cause), Reason: cause.Error(),
		BodyPrefix: domain.BodyPrefix(body, domain.RejectionBodyPrefixBytes),
	}
	if rej.RequestID == "" {
		rej.RequestID, rej.TenantID = bestEffortIDs(body)
	}
	if err := s.Rejections.RecordRejection(ctx, rej, "Provisioning request rejected", true); err != nil {
		return fmt.Errorf("record rejection of %s: %w", rej.ID, err)
	}
	return cause
}

// rejectionID keeps the historic form (the message ID, else a body hash),
// so a redelivery maps to the same rejection.
func rejectionID(src Source, body []byte) string {
	if src.MessageID != "" {
		return src.MessageID
	}
	return domain.Digest(string(body), 8)
}

func rejectionSource(src Source) string {
	if src.Kind == "api" {
		return "api"
	}
	return "queue:" + domain.QueueProvisioning
}

// bestEffortIDs pulls requestId/tenantId out of an invalid body for the
// rejection record, when they are there and plausible.
func bestEffortIDs(body []byte) (requestID, tenantID string) {
	var probe struct {
		RequestID any `json:"requestId"`
		TenantID  any `json:"tenantId"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return "", ""
	}
	if s, ok := probe.RequestID.(string); ok && domain.ValidateRequestID("requestId", s) == nil {
		requestID = s
	}
	if s, ok := probe.TenantID.(string); ok {
		if id, err := domain.NormalizeTenantID("tenantId", s); err == nil {
			tenantID = id
		}
	}
	return requestID, tenantID
}
