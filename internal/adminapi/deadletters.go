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
)

// Dead letters: list a queue's dead-letter sub-queue and resubmit messages
// from it, through the operations service (which holds the rules and the
// audit). Listing and resubmit bounds are the API's.
const (
	defaultDeadLetterMax = 100
	maxDeadLetterMax     = 500
	maxResubmitSelection = 500
)

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

func viewDeadLetter(d domain.DeadLetter) deadLetterView {
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
	if id := d.OriginalMessageID; id != "" {
		v.OriginalMessageID = &id
	}
	if id := d.TenantID; id != "" {
		v.TenantID = &id
	}
	if !d.EnqueuedAt.IsZero() {
		at := d.EnqueuedAt.UTC()
		v.EnqueuedAt = &at
	}
	return v
}

// listDeadLetters peeks at a queue's dead letters, oldest first.
func (a *API) listDeadLetters(c *call) error {
	name := c.r.PathValue("queue")
	if err := a.deps.Operations.CheckDeadLetterQueue(name); err != nil {
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
	dls, err := a.deps.Operations.ListDeadLetters(c.ctx, name, limit)
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
	name := c.r.PathValue("queue")
	if err := a.deps.Operations.CheckDeadLetterQueue(name); err != nil {
		return err
	}
	sel, err := decodeSelection(c.body)
	if err != nil {
		return err
	}
	res, err := a.deps.Operations.ResubmitDeadLetters(c.ctx, name, sel, domain.Actor{ID: c.actor(), Name: c.principal.Name})
	if err != nil {
		return err
	}
	out := resubmitView{Queue: name, Resubmitted: make([]resubmittedView, 0, len(res.Resubmitted)), NotFound: res.NotFound}
	for _, r := range res.Resubmitted {
		out.Resubmitted = append(out.Resubmitted, resubmittedView{SequenceNumber: r.SequenceNumber, DeadLetterID: r.DeadLetterID,
			OriginalMessageID: r.OriginalMessageID, MessageID: r.MessageID})
	}
	return writeJSON(c.w, http.StatusOK, out)
}

func decodeSelection(body []byte) (domain.DeadLetterSelection, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return domain.DeadLetterSelection{}, err
	}
	errs := unknownFields(obj, "sequenceNumbers", "all")
	var sel domain.DeadLetterSelection
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
