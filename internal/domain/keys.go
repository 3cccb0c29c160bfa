package domain

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxMessageIDLength is Service Bus's limit on a message ID, which email
// jobs use their idempotency key as.
const MaxMessageIDLength = 128

// ConsentEmailKey is the idempotency key of a consent email (kind
// consent-link or consent-reminder) that request requestID triggers for a
// tenant. Provisioning and the sweep that completes its work derive it
// here, so both name the same job. A request ID long enough to push the key
// past Service Bus's message-ID limit is replaced by its hash: the publish
// would otherwise fail on every retry.
func ConsentEmailKey(kind EmailKind, tenantID, requestID string) string {
	key := string(kind) + ":" + tenantID + ":" + requestID
	if len(key) <= MaxMessageIDLength {
		return key
	}
	sum := sha256.Sum256([]byte(requestID))
	return string(kind) + ":" + tenantID + ":sha256-" + hex.EncodeToString(sum[:16])
}
