package domain

import "context"

// Queue names, as the services name them in a rejection's source
// ("queue:<name>"); internal/queue uses the same constants.
const (
	QueueProvisioning = "provisioning"
	QueueEmail        = "email"
)

// RejectionBodyPrefixBytes is how much of a rejected body a rejection keeps.
const RejectionBodyPrefixBytes = 1024

// RejectionRecorder is the port a flow records a message that can never
// succeed through (internal/rejections implements it): the rejection is
// stored, operations alerted (unless alert is false: the rejected message
// was itself a rejection alert) and the outcome logged. Only a transient
// failure is returned, so the message is retried.
type RejectionRecorder interface {
	RecordRejection(ctx context.Context, rj Rejection, subject string, alert bool) error
}

// RejectionID derives a rejection ID from a message: its message ID if it
// has one, else a hash of its body, prefixed by the source queue, so a
// redelivery maps to the same rejection.
func RejectionID(source, messageID string, body []byte) string {
	if messageID != "" {
		return source + ":" + messageID
	}
	return source + ":sha256-" + Digest(string(body), 12)
}
