package domain

import (
	"strings"
	"sync"
	"testing"

	"github.com/onemeeting/cvi-onboarding/contracts"
)

// The contract's committed example is a message the decoder accepts.
func TestContractExampleDecodes(t *testing.T) {
	req, err := DecodeProvisioningRequest(contracts.ProvisioningV1Example(), IPPolicy{}, known)
	if err != nil {
		t.Fatalf("contracts/provisioning.v1.example.json: %v", err)
	}
	if req.RequestID != "CRM-2026-000123" || len(req.Contacts) != 2 || len(req.AdminIPs) != 2 {
		t.Errorf("decoded %+v", req)
	}
}

// The schema is compiled once and shared; decoding from many goroutines
// at once gives every caller its own, unchanged, answer.
func TestDecodeProvisioningConcurrently(t *testing.T) {
	bad := strings.Replace(example, `"eu"`, `"mars"`, 1)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := DecodeProvisioningRequest([]byte(example), IPPolicy{}, known); err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
				if _, err := DecodeProvisioningRequest([]byte(bad), IPPolicy{}, known); ErrorField(err) != "region" {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if a, b := provisioningSchema().message, provisioningSchema().message; a != b {
		t.Error("the contract is compiled more than once")
	}
}
