package adminapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The console's overview, audit log, emails and run detail. Counts and the
// needs-attention list come from the tenant listing the search keeps
// (search.go), so the overview costs one catch-up query plus an audit
// scan for consent.started and the newest rejections and run.

const (
	maxAttention       = 200
	maxRunTenants      = 1000
	maxAuditConsidered = 5000
	// attentionRejectionAge: rejected requests older than this have left
	// the needs-attention list (they stay in GET /rejections).
	attentionRejectionAge = 7 * 24 * time.Hour
)

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

func progressOf(r *domain.RevalidationRun) runProgress {
	p := runProgress{Run: viewRun(r), State: "finished", Percent: 100}
	switch {
	case r.FinishedAt.IsZero():
		p.State = "listing"
	case r.Checked < r.Tenants:
		p.State = "checking"
	}
	if r.Tenants > 0 {
		p.Percent = min(100, float64(r.Checked)*100/float64(r.Tenants))
	} else if p.State == "listing" {
		p.Percent = 0
	}
	return p
}

func (a *API) getOverview(c *call) error {
	if _, err := query(c); err != nil {
		return err
	}
	now := a.now().UTC()
	all, err := a.allTenants(c.ctx)
	if err != nil {
		return err
	}
	opened, err := a.tenantsWithAction(c.ctx, "consent.started")
	if err != nil {
		return err
	}
	v := overviewView{GeneratedAt: now, Total: len(all), ByStatus: map[string]int{}, ByRegion: map[string]int{}, NeedsAttention: []attention{}}
	for _, s := range domain.Statuses {
		v.ByStatus[string(s)] = 0
	}
	for code := range a.deps.Regions {
		v.ByRegion[code] = 0
	}
	reminder := a.deps.Provisioning.ReminderDelay
	alertAfter := max(1, a.deps.Revalidation.AlertAfter)
	var toConsent []float64
	for _, t := range all {
		v.ByStatus[string(t.Status)]++
		v.ByRegion[t.Region]++
		if t.Status == domain.StatusOffboarded {
			continue
		}
		f := &v.Funnel
		f.Provisioned++
		consented := !t.ConsentedAt.IsZero()
		if consented || opened[t.TenantID] {
			f.LinkOpened++
		}
		if consented {
			f.Consented++
			toConsent = append(toConsent, t.ConsentedAt.Sub(t.CreatedAt).Seconds())
			if !t.VerificationPending {
				f.Verified++
			}
		}
		v.NeedsAttention = append(v.NeedsAttention, attentionFor(t, now, reminder, alertAfter)...)
	}
	v.Funnel.TimeToConsent = timeToConsent(toConsent)
	rej, err := a.deps.Store.ListRejections(c.ctx, 50, "")
	if err != nil {
		return err
	}
	for _, r := range rej.Items {
		if now.Sub(r.At) > attentionRejectionAge {
			continue
		}
		detail := "rejected (" + r.Source + "): " + r.Reason
		if r.Field != "" {
			detail += " [field " + r.Field + "]"
		}
		v.NeedsAttention = append(v.NeedsAttention, attention{Kind: "rejected-request", TenantID: r.TenantID, Since: r.At, Detail: detail, RejectionID: r.ID})
	}
	slices.SortStableFunc(v.NeedsAttention, func(x, y attention) int { return y.Since.Compare(x.Since) })
	v.NeedsAttentionTotal = len(v.NeedsAttention)
	v.NeedsAttention = v.NeedsAttention[:min(len(v.NeedsAttention), maxAttention)]
	runs, err := a.deps.Store.ListRevalidationRuns(c.ctx, 1, "")
	if err != nil {
		return err
	}
	if len(runs.Items) > 0 {
		p := progressOf(runs.Items[0])
		v.LastRevalidationRun = &p
	}
	return writeJSON(c.w, http.StatusOK, v)
}

// attentionFor lists what is wrong with one (not offboarded) tenant.
func attentionFor(t *domain.Tenant, now time.Time, reminder time.Duration, alertAfter int) []attention {
	var out []attention
	add := func(kind string, since time.Time, detail string) {
		out = append(out, attention{Kind: kind, TenantID: t.TenantID, CustomerName: t.CustomerName, Status: t.Status, Since: since, Detail: detail})
	}
	switch t.Status {
	case domain.StatusDegraded:
		d := "consent is degraded"
		if len(t.MissingRoles) > 0 {
			d += ": missing roles " + strings.Join(t.MissingRoles, ", ")
		} else if t.StatusReason != "" {
			d += ": " + t.StatusReason
		}
		add("degraded", t.StatusChanged, d)
	case domain.StatusRevoked:
		add("revoked", t.StatusChanged, "the customer removed the app (consent revoked)")
	case domain.StatusProvisioned:
		if issued := t.InviteIssuedAt; reminder > 0 && !issued.IsZero() && now.Sub(issued) > reminder {
			add("no-consent-after-reminder", issued.Add(reminder), "no consent yet, "+
				now.Sub(issued).Round(time.Hour).String()+" after the consent link was issued (the reminder is due after "+reminder.String()+")")
		}
	}
	if t.VerificationPending {
		add("verification-pending", t.VerificationPendingSince, "consent was granted but could not be verified yet (replication delay or missing roles)")
	}
	if t.ConsecutiveCheckFailures >= alertAfter {
		d := "the last consent checks failed"
		if t.LastCheckError != "" {
			d += ": " + t.LastCheckError
		}
		since := t.CheckFailingSince
		if since.IsZero() {
			since = t.LastCheckAt
		}
		add("failing-checks", since, d)
	}
	return out
}

// timeToConsent is the median and p90 (nearest rank) of the samples.
func timeToConsent(secs []float64) timeToConsentVal {
	v := timeToConsentVal{Count: len(secs)}
	if len(secs) == 0 {
		return v
	}
	slices.Sort(secs)
	rank := func(p float64) *float64 {
		i := int(p*float64(len(secs))+0.999999) - 1
		x := secs[max(0, min(i, len(secs)-1))]
		return &x
	}
	if n := len(secs); n%2 == 1 {
		m := secs[n/2]
		v.MedianSeconds = &m
	} else {
		m := (secs[n/2-1] + secs[n/2]) / 2
		v.MedianSeconds = &m
	}
	v.P90Seconds = rank(0.9)
	return v
}

// tenantsWithAction is the set of tenants having an audit event action.
func (a *API) tenantsWithAction(ctx context.Context, action string) (map[string]bool, error) {
	rs, ok := a.deps.Store.(domain.RecordSearcher)
	if !ok {
		return map[string]bool{}, nil
	}
	evs, err := rs.SearchAudit(ctx, domain.AuditQuery{Action: action, Limit: 100000})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(evs))
	for _, e := range evs {
		out[e.TenantID] = true
	}
	return out, nil
}

func (a *API) records() (domain.RecordSearcher, error) {
	rs, ok := a.deps.Store.(domain.RecordSearcher)
	if !ok {
		return nil, domain.Errorf(domain.CodeUnavailable, "this store cannot search records across tenants")
	}
	return rs, nil
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
	rs, err := a.records()
	if err != nil {
		return err
	}
	aq.Limit = maxAuditConsidered
	evs, err := rs.SearchAudit(c.ctx, aq)
	if err != nil {
		return err
	}
	out := pageView[auditView]{Items: []auditView{}}
	end := min(len(evs), offset+pg.size)
	for _, e := range evs[min(offset, len(evs)):end] {
		out.Items = append(out.Items, viewAudit(e))
	}
	if end < len(evs) {
		tok := encodeSearchToken(end, fp)
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
	t, err := a.loadTenant(c)
	if err != nil {
		return err
	}
	rs, err := a.records()
	if err != nil {
		return err
	}
	mails, err := rs.TenantMail(c.ctx, t.TenantID)
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
	run, err := a.deps.Store.GetRevalidationRun(c.ctx, id)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return domain.Errorf(domain.CodeNotFound, "there is no revalidation run %s", id)
		}
		return err
	}
	all, err := a.allTenants(c.ctx)
	if err != nil {
		return err
	}
	p := progressOf(run)
	out := struct {
		runProgress
		Tenants   []runTenantView `json:"tenants"`
		Truncated bool            `json:"tenantsTruncated"`
	}{runProgress: p, Tenants: []runTenantView{}}
	for _, t := range all {
		if t.LastCheckRunID != run.RunID {
			continue
		}
		out.Tenants = append(out.Tenants, runTenantView{TenantID: t.TenantID, CustomerName: t.CustomerName, Status: t.Status,
			LastCheckAt: t.LastCheckAt, LastCheckOutcome: t.LastCheckOutcome, LastCheckError: t.LastCheckError,
			MissingRoles: t.MissingRoles, ConsecutiveCheckFailures: t.ConsecutiveCheckFailures})
	}
	failed := func(v runTenantView) bool { return v.LastCheckError != "" || v.ConsecutiveCheckFailures > 0 }
	slices.SortStableFunc(out.Tenants, func(x, y runTenantView) int {
		switch {
		case failed(x) && !failed(y):
			return -1
		case failed(y) && !failed(x):
			return 1
		}
		return strings.Compare(x.TenantID, y.TenantID)
	})
	if len(out.Tenants) > maxRunTenants {
		out.Tenants, out.Truncated = out.Tenants[:maxRunTenants], true
	}
	return writeJSON(c.w, http.StatusOK, out)
}
