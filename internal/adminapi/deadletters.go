package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// Dead letters: list a queue's dead-letter sub-queue and resubmit messages
// from it. A resubmit never reuses the dead letter's message ID: inside the
// queue's duplicate-detection window (1 day in the Bicep) Service Bus would
// silently drop it (learn.microsoft.com/azure/service-bus-messaging/duplicate-detection).

// deadLetterQueues are the queues that have dead letters worth replaying.
var deadLetterQueues = []string{queue.Provisioning, queue.Email, queue.Revalidation}

// Listing and resubmit bounds.
const (
	defaultDeadLetterMax = 100
	maxDeadLetterMax     = 500
	maxResubmitSelection = 500
)

// deadLetterAuditPartition holds resubmit audit events of messages that name
// no tenant (revalidation batches, ops alerts).
const deadLetterAuditPartition = "operations-deadletters"

type deadLetterView struct {
	SequenceNumber        int64          `json:"sequenceNumber"`
	MessageID             string         `json:"messageId"`
	OriginalMessageID     *string        `json:"originalMessageId"`
	TenantID              *string        `json:"tenantId"`
	Subject               string         `json:"subject"`
	ContentType           string         `json:"contentType"`
	EnqueuedAt            *time.Time     `json:"enqueuedAt"`
	DeliveryCount         int            `json:"deliveryCount"`
	DeadLetterReason      string         `json:"deadLetterReason"`
	DeadLetterDescription string         `json:"deadLetterDescription"`
	ApplicationProperties map[string]any `json:"applicationProperties"`
	Body                  string         `json:"body"`
}

type deadLetterListView struct {
	Queue string           `json:"queue"`
	Items []deadLetterView `json:"items"`
}

type resubmittedView struct {
	SequenceNumber    int64  `json:"sequenceNumber"`
	DeadLetterID      string `json:"deadLetterMessageId"`
	OriginalMessageID string `json:"originalMessageId"`
	MessageID         string `json:"messageId"`
}

type resubmitView struct {
	Queue       string            `json:"queue"`
	Resubmitted []resubmittedView `json:"resubmitted"`
	NotFound    []int64           `json:"notFound"`
}

func viewDeadLetter(d queue.DeadLetter) deadLetterView {
	v := deadLetterView{SequenceNumber: d.SequenceNumber, MessageID: d.MessageID, Subject: d.Subject, ContentType: d.ContentType,
		DeliveryCount: d.DeliveryCount, DeadLetterReason: d.Reason, DeadLetterDescription: d.Description,
		ApplicationProperties: map[string]any{}, Body: strings.ToValidUTF8(string(d.Body), "\uFFFD")}
	for k, p := range d.ApplicationProperties {
		switch p.(type) {
		case string, bool, float64, float32, int, int32, int64, uint32, uint64, json.Number:
			v.ApplicationProperties[k] = p
		default:
			v.ApplicationProperties[k] = fmt.Sprint(p)
		}
	}
	if id, ok := d.ApplicationProperties[queue.PropOriginalMessageID].(string); ok && id != "" {
		v.OriginalMessageID = &id
	}
	if id := queue.BodyTenantID(d.Body); id != "" {
		v.TenantID = &id
	}
	if !d.EnqueuedAt.IsZero() {
		at := d.EnqueuedAt.UTC()
		v.EnqueuedAt = &at
	}
	return v
}

func (a *API) deadLetterPort(c *call) (queue.DeadLetters, string, error) {
	name := c.r.PathValue("queue")
	if !slices.Contains(deadLetterQueues, name) {
		return nil, "", domain.FieldError("queue", "must be one of %s", strings.Join(deadLetterQueues, ", "))
	}
	if a.deps.DeadLetters == nil {
		return nil, "", domain.Errorf(domain.CodeUnavailable, "dead-letter access is not configured in this deployment")
	}
	return a.deps.DeadLetters, name, nil
}

// listDeadLetters peeks at a queue's dead letters, oldest first.
func (a *API) listDeadLetters(c *call) error {
	port, name, err := a.deadLetterPort(c)
	if err != nil {
		return err
	}
	q, err := query(c, "max")
	if err != nil {
		return err
	}
	limit := defaultDeadLetterMax
	if s := q.Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeadLetterMax {
			return domain.FieldError("max", "must be a whole number from 1 to %d", maxDeadLetterMax)
		}
		limit = n
	}
	dls, err := port.ListDeadLetters(c.ctx, name, limit)
	if err != nil {
		return err
	}
	out := deadLetterListView{Queue: name, Items: make([]deadLetterView, 0, len(dls))}
	for _, d := range dls {
		out.Items = append(out.Items, viewDeadLetter(d))
	}
	return writeJSON(c.w, http.StatusOK, out)
}

// resubmitDeadLetters sends dead letters again under new message IDs and
// removes each one after its copy was sent. Body: {"sequenceNumbers":[...]}
// or {"all":true}.
func (a *API) resubmitDeadLetters(c *call) error {
	port, name, err := a.deadLetterPort(c)
	if err != nil {
		return err
	}
	sel, err := decodeSelection(c.body)
	if err != nil {
		return err
	}
	// Before and after: the copies' details (tenant) come from the listing.
	done, missing, err := port.ResubmitDeadLetters(c.ctx, name, sel, c.actor())
	for _, r := range done {
		a.auditResubmit(c, name, r)
	}
	if err != nil {
		if len(done) > 0 {
			return fmt.Errorf("%d dead letter(s) were resubmitted before the failure (see the audit trail): %w", len(done), err)
		}
		return err
	}
	out := resubmitView{Queue: name, Resubmitted: make([]resubmittedView, 0, len(done)), NotFound: missing}
	if out.NotFound == nil {
		out.NotFound = []int64{}
	}
	for _, r := range done {
		out.Resubmitted = append(out.Resubmitted, resubmittedView{SequenceNumber: r.SequenceNumber, DeadLetterID: r.DeadLetterID,
			OriginalMessageID: r.OriginalMessageID, MessageID: r.MessageID})
	}
	return writeJSON(c.w, http.StatusOK, out)
}

func decodeSelection(body []byte) (queue.Selection, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return queue.Selection{}, err
	}
	errs := unknownFields(obj, "sequenceNumbers", "all")
	var sel queue.Selection
	rawAll, hasAll := obj["all"]
	rawSeqs, hasSeqs := obj["sequenceNumbers"]
	switch {
	case hasAll && hasSeqs:
		errs = append(errs, domain.FieldError("(body)", "send either sequenceNumbers or all, not both"))
	case hasAll:
		if sel.All, err = decodeBool("all", rawAll); err != nil {
			errs = append(errs, asDomainError(err))
		} else if !sel.All {
			errs = append(errs, domain.FieldError("all", "must be true (or send sequenceNumbers)"))
		}
	case hasSeqs:
		var seqs []json.RawMessage
		if json.Unmarshal(rawSeqs, &seqs) != nil {
			errs = append(errs, domain.FieldError("sequenceNumbers", "must be an array of sequence numbers"))
			break
		}
		if len(seqs) == 0 || len(seqs) > maxResubmitSelection {
			errs = append(errs, domain.FieldError("sequenceNumbers", "must hold 1 to %d sequence numbers", maxResubmitSelection))
		}
		for i, s := range seqs {
			n, err := strconv.ParseInt(string(s), 10, 64) // a JSON integer, not a string or fraction
			if err != nil || n < 0 {
				errs = append(errs, domain.FieldError(fmt.Sprintf("sequenceNumbers[%d]", i), "must be a whole number of at least 0"))
				continue
			}
			if !slices.Contains(sel.SequenceNumbers, n) {
				sel.SequenceNumbers = append(sel.SequenceNumbers, n)
			}
		}
	default:
		errs = append(errs, domain.FieldError("(body)", `is required: {"sequenceNumbers":[...]} or {"all":true}`))
	}
	return sel, errs.Err()
}

// auditResubmit writes one audit event per resubmitted message, to the
// tenant's trail when the message names a tenant.
func (a *API) auditResubmit(c *call, queueName string, r queue.Resubmitted) {
	a.log.InfoContext(c.ctx, "dead letter resubmitted", "queue", queueName, "sequenceNumber", r.SequenceNumber,
		"deadLetterMessageId", r.DeadLetterID, "originalMessageId", r.OriginalMessageID, "messageId", r.MessageID,
		"tenantId", r.TenantID, "oid", c.principal.ObjectID)
	partition := r.TenantID
	if partition == "" {
		partition = deadLetterAuditPartition
	}
	a.audit(c, domain.AuditEvent{TenantID: partition, Action: "deadletter.resubmitted", Details: map[string]string{
		"queue": queueName, "sequenceNumber": strconv.FormatInt(r.SequenceNumber, 10), "deadLetterMessageId": r.DeadLetterID,
		"originalMessageId": r.OriginalMessageID, "messageId": r.MessageID}})
}
