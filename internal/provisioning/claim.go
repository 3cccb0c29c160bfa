// Claim and keys: the request's idempotency record (requestId + body
// hash), the tenant key reserved for a new tenant, and the IP index lease.

package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// maxKeyAttempts bounds tenant-key allocation; with 9 digits a collision is
// rare, so running out means something is wrong.
const maxKeyAttempts = 20

// claimRequest records the requestId (insert-if-absent) or loads the earlier
// record. A requestId reused for a different body is a permanent error.
func (s *Service) claimRequest(ctx context.Context, req *domain.ProvisioningRequest, body []byte) (*domain.ProvisioningRecord, error) {
	code, err := newKeyCode(s.regionDigits(req.Region))
	if err != nil {
		return nil, err
	}
	rec := &domain.ProvisioningRecord{
		RequestID:  req.RequestID,
		TenantID:   req.TenantID,
		BodyHash:   requestHash(req),
		ReceivedAt: s.Now().UTC(),
		KeyCode:    code,
	}
	err = s.Store.CreateProvisioningRecord(ctx, rec)
	if err == nil {
		return rec, nil
	}
	if domain.ErrorCode(err) != domain.CodeConflict {
		return nil, fmt.Errorf("record request %s: %w", req.RequestID, err)
	}
	existing, err := s.Store.GetProvisioningRecord(ctx, req.RequestID)
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", req.RequestID, err)
	}
	if existing.TenantID != req.TenantID || existing.BodyHash != rec.BodyHash {
		return nil, &domain.Error{Code: domain.CodeConflict, Field: "requestId",
			Message: fmt.Sprintf("%q was already used for a different request (tenant %s); use a new requestId for a change", req.RequestID, existing.TenantID)}
	}
	return existing, nil
}

// requestHash identifies the request's content independent of formatting.
func requestHash(req *domain.ProvisioningRequest) string {
	b, _ := json.Marshal(req)
	return domain.Digest(string(b), 32)
}

func (s *Service) regionDigits(code string) int {
	r, _ := s.Regions.Lookup("region", code)
	return r.KeyDigits()
}

// reserveKey reserves rec.KeyCode for the tenant, choosing (and remembering
// on the record) another code while the candidate belongs to someone else.
func (s *Service) reserveKey(ctx context.Context, req *domain.ProvisioningRequest, rec *domain.ProvisioningRecord) (string, error) {
	for range maxKeyAttempts {
		err := s.Store.ReserveTenantKey(ctx, rec.KeyCode, req.TenantID)
		if err == nil {
			return rec.KeyCode, nil
		}
		if domain.ErrorCode(err) != domain.CodeConflict {
			return "", fmt.Errorf("reserve tenant key %s: %w", rec.KeyCode, err)
		}
		next, err := newKeyCode(s.regionDigits(req.Region))
		if err != nil {
			return "", err
		}
		rec.KeyCode = next
		if err := s.Store.UpdateProvisioningRecord(ctx, rec); err != nil {
			if domain.ErrorCode(err) != domain.CodePreconditionFailed {
				return "", fmt.Errorf("remember key candidate for %s: %w", req.RequestID, err)
			}
			// Another delivery picked a candidate first: use theirs.
			latest, err := s.Store.GetProvisioningRecord(ctx, req.RequestID)
			if err != nil {
				return "", fmt.Errorf("reload request %s: %w", req.RequestID, err)
			}
			*rec = *latest
		}
	}
	return "", domain.Errorf(domain.CodeInternal, "no free tenant key after %d attempts", maxKeyAttempts)
}

// newKeyCode draws a uniformly random numeric code of the given length with a
// non-zero first digit (so it never loses digits).
func newKeyCode(digits int) (string, error) {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits-1)), nil)
	span := new(big.Int).Mul(lo, big.NewInt(9))
	n, err := rand.Int(rand.Reader, span)
	if err != nil {
		return "", domain.Wrap(domain.CodeInternal, err, "draw tenant key")
	}
	return n.Add(n, lo).String(), nil
}

// indexAllowedIPs updates the IP index as the request (a retry of it
// re-enters its own lease at once), waiting briefly while another request
// or an operator holds the tenant's index lease.
func (s *Service) indexAllowedIPs(ctx context.Context, t *domain.Tenant, requestID string) error {
	delay := 100 * time.Millisecond
	deadline := s.Now().Add(5 * time.Second)
	for {
		err := s.Store.SetAllowedIPsAs(ctx, t.TenantID, "provisioning:"+requestID, t.AllowedIPs)
		if err == nil {
			return nil
		}
		if !domain.IsTransient(err) || s.Now().Add(delay).After(deadline) {
			return fmt.Errorf("index allowed IPs of tenant %s: %w", t.TenantID, err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("index allowed IPs of tenant %s: %w", t.TenantID, ctx.Err())
		case <-timer.C:
		}
		delay = min(delay*2, time.Second)
	}
}
