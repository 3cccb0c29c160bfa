package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Digest is the hex form of the first n bytes (at most 32) of s's SHA-256:
// the one way a long or secret value becomes a key, ID or stored hash.
func Digest(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:min(n, len(sum))])
}

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
	return string(kind) + ":" + tenantID + ":sha256-" + Digest(requestID, 16)
}

// ConsentLinkKey is the idempotency key of the consent-link email to a
// tenant's admins. It names the admin set, not the request: the request that
// created the tenant, a later one for the same admins (a retry of it
// re-publishes the link, not knowing any more whether it changed them) and
// the sweep all name one job, so however they interleave the admins get one
// link; a request that changes the admins names a new one.
func ConsentLinkKey(tenantID string, admins []string) string {
	norm := make([]string, len(admins))
	for i, a := range admins {
		norm[i] = strings.ToLower(strings.TrimSpace(a))
	}
	slices.Sort(norm)
	return string(EmailConsentLink) + ":" + tenantID + ":admins-" + Digest(strings.Join(slices.Compact(norm), "\n"), 12)
}
