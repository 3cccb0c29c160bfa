package adminapi

import (
	"net/http"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/operations"
)

// The console's overview, audit log, emails and run detail: decoded here,
// answered by the operations service, rendered in the shapes below.

type overviewView struct {
	GeneratedAt         time.Time      `json:"generatedAt"`
	Total               int            `json:"total"`
	ByStatus            map[string]int `json:"byStatus"`
	ByRegion            map[string]int `json:"byRegion"`
	Funnel              funnelView     `json:"funnel"`
	NeedsAttention      []attention    `json:"needsAttention"`
	NeedsAttentionTotal int            `json:"needsAttentionTotal"`
	LastRevalidationRun *runProgress   `json:"lastRevalidationRun"`
}

type funnelView struct {
	Provisioned   int              `json:"provisioned"`
	LinkOpened    int              `json:"linkOpened"`
	Consented     int              `json:"consented"`
	Verified      int              `json:"verified"`
	TimeToConsent timeToConsentVal `json:"timeToConsent"`
}

type timeToConsentVal struct {
	Count         int      `json:"count"`
	MedianSeconds *float64 `json:"medianSeconds"`
	P90Seconds    *float64 `json:"p90Seconds"`
}

type attention struct {
	Kind         string        `json:"kind"`
	TenantID     string        `json:"tenantId,omitempty"`
	CustomerName string        `json:"customerName,omitempty"`
	Status       domain.Status `json:"status,omitempty"`
	Since        time.Time     `json:"since,omitzero"`
	Detail       string        `json:"detail"`
	RejectionID  string        `json:"rejectionId,omitempty"`
}

type runProgress struct {
	Run     runView `json:"run"`
	State   string  `json:"state"`
	Percent float64 `json:"percent"`
}

func viewProgress(p operations.RunProgress) runProgress {
	return runProgress{Run: viewRun(p.Run), State: p.State, Percent: p.Percent}
}

func (a *API) getOverview(c *call) error {
	if _, err := query(c); err != nil {
		return err
	}
	o, err := a.deps.Operations.Overview(c.ctx)
	if err != nil {
		return err
	}
	f := o.Funnel
	v := overviewView{GeneratedAt: o.GeneratedAt, Total: o.Total, ByStatus: o.ByStatus, ByRegion: o.ByRegion,
		Funnel: funnelView{Provisioned: f.Provisioned, LinkOpened: f.LinkOpened, Consented: f.Consented, Verified: f.Verified,
			TimeToConsent: timeToConsentVal(f.TimeToConsent)},
		NeedsAttention: make([]attention, 0, len(o.NeedsAttention)), NeedsAttentionTotal: o.NeedsAttentionTotal}
	for _, it := range o.NeedsAttention {
		v.NeedsAttention = append(v.NeedsAttention, attention(it))
	}
	if o.LastRevalidationRun != nil {
		p := viewProgress(*o.LastRevalidationRun)
		v.LastRevalidationRun = &p
	}
	return writeJSON(c.w, http.StatusOK, v)
}

// listAllEvents is GET /events: the audit log across tenants.
func (a *API) listAllEvents(c *call) error {
	q, err := query(c, "actor", "action", "from", "to", "pageSize", "continuation")
	if err != nil {
		return err
	}
	var errs domain.Errors
	var aq domain.AuditQuery
	one := func(name string, maxLen int) string {
		vs, ok := q[name]
		if !ok {
			return ""
		}
		if err := domain.ValidateText(name, vs[0], 1, maxLen); len(vs) > 1 || err != nil {
			errs = append(errs, domain.FieldError(name, "must be given once, 1 to %d characters without control characters", maxLen))
			return ""
		}
		return vs[0]
	}
	aq.Actor, aq.Action = one("actor", 200), one("action", 100)
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &aq.From}, {"to", &aq.To}} {
		if s := one(p.name, 40); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				errs = append(errs, domain.FieldError(p.name, "must be an RFC 3339 date-time, e.g. 2026-12-01T09:00:00Z"))
			}
			*p.dst = t
		}
	}
	if !aq.From.IsZero() && !aq.To.IsZero() && !aq.From.Before(aq.To) {
		errs = append(errs, domain.FieldError("to", "must be after from"))
	}
	pg := pagingParams(q, &errs)
	fp := searchFingerprint(domain.TenantQuery{Filter: domain.TenantFilter{Text: aq.Actor + "\x00" + aq.Action + "\x00" + aq.From.String() + aq.To.String()}, Sort: "events"})
	offset := 0
	if pg.continuation != "" && len(errs) == 0 {
		off, err := decodeSearchToken(pg.continuation, fp)
		if err != nil {
			errs = append(errs, err)
		}
		offset = off
	}
	if err := errs.Err(); err != nil {
		return err
	}
	page, err := a.deps.Operations.Events(c.ctx, aq, offset, pg.size)
	if err != nil {
		return err
	}
	out := pageView[auditView]{Items: make([]auditView, 0, len(page.Items))}
	for _, e := range page.Items {
		out.Items = append(out.Items, viewAudit(e))
	}
	if page.Next > 0 {
		tok := encodeSearchToken(page.Next, fp)
		out.Continuation = &tok
	}
	return writeJSON(c.w, http.StatusOK, out)
}

type emailView struct {
	Key       string    `json:"key"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updatedAt"`
	Detail    string    `json:"detail,omitempty"`
}

// listTenantEmails is GET /tenants/{tenantId}/emails.
func (a *API) listTenantEmails(c *call) error {
	if _, err := query(c); err != nil {
		return err
	}
	id, err := tenantIDParam(c)
	if err != nil {
		return err
	}
	mails, err := a.deps.Operations.TenantEmails(c.ctx, id)
	if err != nil {
		return err
	}
	out := struct {
		Items []emailView `json:"items"`
	}{Items: []emailView{}}
	for _, m := range mails {
		out.Items = append(out.Items, emailView{Key: m.Key, Kind: string(m.Kind), Status: m.Status, UpdatedAt: m.UpdatedAt, Detail: m.Detail})
	}
	return writeJSON(c.w, http.StatusOK, out)
}

type runTenantView struct {
	TenantID                 string        `json:"tenantId"`
	CustomerName             string        `json:"customerName"`
	Status                   domain.Status `json:"status"`
	LastCheckAt              time.Time     `json:"lastCheckAt,omitzero"`
	LastCheckOutcome         string        `json:"lastCheckOutcome,omitempty"`
	LastCheckError           string        `json:"lastCheckError,omitempty"`
	MissingRoles             []string      `json:"missingRoles,omitempty"`
	ConsecutiveCheckFailures int           `json:"consecutiveCheckFailures"`
}

// getRevalidationRun is GET /revalidation-runs/{runId}.
func (a *API) getRevalidationRun(c *call) error {
	if _, err := query(c); err != nil {
		return err
	}
	id := c.r.PathValue("runId")
	if err := domain.ValidateText("runId", id, 1, 200); err != nil {
		return err
	}
	run, err := a.deps.Operations.RevalidationRun(c.ctx, id)
	if err != nil {
		return err
	}
	out := struct {
		runProgress
		Tenants   []runTenantView `json:"tenants"`
		Truncated bool            `json:"tenantsTruncated"`
	}{runProgress: viewProgress(run.Progress), Tenants: make([]runTenantView, 0, len(run.Tenants)), Truncated: run.Truncated}
	for _, t := range run.Tenants {
		out.Tenants = append(out.Tenants, runTenantView{TenantID: t.TenantID, CustomerName: t.CustomerName, Status: t.Status,
			LastCheckAt: t.LastCheckAt, LastCheckOutcome: t.LastCheckOutcome, LastCheckError: t.LastCheckError,
			MissingRoles: t.MissingRoles, ConsecutiveCheckFailures: t.ConsecutiveCheckFailures})
	}
	return writeJSON(c.w, http.StatusOK, out)
}
