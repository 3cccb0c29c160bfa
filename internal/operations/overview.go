package operations

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The overview's counts and needs-attention list come from the tenant
// listing the search keeps, so it costs one catch-up query plus an audit
// scan for consent.started and the newest rejections and run.

// Bounds of the overview and run detail.
const (
	MaxAttention  = 200
	MaxRunTenants = 1000
	// attentionRejectionAge: rejected requests older than this have left
	// the needs-attention list (they stay in the rejections listing).
	attentionRejectionAge = 7 * 24 * time.Hour
	// overviewRejections is how many of the newest rejections the
	// overview considers.
	overviewRejections = 50
)

// Overview is the console's landing page.
type Overview struct {
	GeneratedAt         time.Time
	Total               int
	ByStatus            map[string]int // every status, 0 when none
	ByRegion            map[string]int // every served region, 0 when none
	Funnel              Funnel
	NeedsAttention      []Attention // newest first, at most MaxAttention
	NeedsAttentionTotal int
	LastRevalidationRun *RunProgress // nil before the first run
}

// Funnel counts tenants (offboarded ones excluded) along onboarding.
type Funnel struct {
	Provisioned   int
	LinkOpened    int
	Consented     int
	Verified      int
	TimeToConsent TimeToConsent
}

// TimeToConsent is the median and p90 (nearest rank) of provisioning to
// consent, in seconds; nil without samples.
type TimeToConsent struct {
	Count         int
	MedianSeconds *float64
	P90Seconds    *float64
}

// Attention is one thing an operator should look at.
type Attention struct {
	Kind         string // degraded, revoked, no-consent-after-reminder, verification-pending, failing-checks, rejected-request
	TenantID     string
	CustomerName string
	Status       domain.Status
	Since        time.Time
	Detail       string
	RejectionID  string
}

// RunProgress is a revalidation run and how far it got.
type RunProgress struct {
	Run     *domain.RevalidationRun
	State   string // listing, checking, finished
	Percent float64
}

// Progress is how far run r got.
func Progress(r *domain.RevalidationRun) RunProgress {
	p := RunProgress{Run: r, State: "finished", Percent: 100}
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

// Overview counts tenants by status and region, the onboarding funnel, and
// what needs attention; with the newest revalidation run.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	now := s.now()
	all, err := s.allTenants(ctx)
	if err != nil {
		return Overview{}, err
	}
	opened, err := s.tenantsWithAction(ctx, "consent.started")
	if err != nil {
		return Overview{}, err
	}
	v := Overview{GeneratedAt: now, Total: len(all), ByStatus: map[string]int{}, ByRegion: map[string]int{}, NeedsAttention: []Attention{}}
	for _, st := range domain.Statuses {
		v.ByStatus[string(st)] = 0
	}
	for code := range s.Regions {
		v.ByRegion[code] = 0
	}
	alertAfter := max(1, s.AlertAfter)
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
		v.NeedsAttention = append(v.NeedsAttention, attentionFor(t, now, s.ReminderDelay, alertAfter)...)
	}
	v.Funnel.TimeToConsent = timeToConsent(toConsent)
	rej, err := s.Store.ListRejections(ctx, overviewRejections, "")
	if err != nil {
		return Overview{}, err
	}
	for _, r := range rej.Items {
		if now.Sub(r.At) > attentionRejectionAge {
			continue
		}
		detail := "rejected (" + r.Source + "): " + r.Reason
		if r.Field != "" {
			detail += " [field " + r.Field + "]"
		}
		v.NeedsAttention = append(v.NeedsAttention, Attention{Kind: "rejected-request", TenantID: r.TenantID, Since: r.At, Detail: detail, RejectionID: r.ID})
	}
	slices.SortStableFunc(v.NeedsAttention, func(x, y Attention) int { return y.Since.Compare(x.Since) })
	v.NeedsAttentionTotal = len(v.NeedsAttention)
	v.NeedsAttention = v.NeedsAttention[:min(len(v.NeedsAttention), MaxAttention)]
	runs, err := s.Store.ListRevalidationRuns(ctx, 1, "")
	if err != nil {
		return Overview{}, err
	}
	if len(runs.Items) > 0 {
		p := Progress(runs.Items[0])
		v.LastRevalidationRun = &p
	}
	return v, nil
}

// attentionFor lists what is wrong with one (not offboarded) tenant.
func attentionFor(t *domain.Tenant, now time.Time, reminder time.Duration, alertAfter int) []Attention {
	var out []Attention
	add := func(kind string, since time.Time, detail string) {
		out = append(out, Attention{Kind: kind, TenantID: t.TenantID, CustomerName: t.CustomerName, Status: t.Status, Since: since, Detail: detail})
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
func timeToConsent(secs []float64) TimeToConsent {
	v := TimeToConsent{Count: len(secs)}
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

// tenantsWithAction is the set of tenants having an audit event action
// (empty when the store cannot search across tenants).
func (s *Service) tenantsWithAction(ctx context.Context, action string) (map[string]bool, error) {
	rs, ok := s.Store.(domain.RecordSearcher)
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

// RunDetail is a revalidation run with the tenants whose latest check was
// in it: failed checks first, then by tenant ID, at most MaxRunTenants.
type RunDetail struct {
	Progress  RunProgress
	Tenants   []*domain.Tenant
	Truncated bool
}

// RevalidationRun reads one run and its tenants.
func (s *Service) RevalidationRun(ctx context.Context, runID string) (RunDetail, error) {
	run, err := s.Store.GetRevalidationRun(ctx, runID)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return RunDetail{}, domain.Errorf(domain.CodeNotFound, "there is no revalidation run %s", runID)
		}
		return RunDetail{}, err
	}
	all, err := s.allTenants(ctx)
	if err != nil {
		return RunDetail{}, err
	}
	out := RunDetail{Progress: Progress(run), Tenants: []*domain.Tenant{}}
	for _, t := range all {
		if t.LastCheckRunID == run.RunID {
			out.Tenants = append(out.Tenants, t)
		}
	}
	failed := func(t *domain.Tenant) bool { return t.LastCheckError != "" || t.ConsecutiveCheckFailures > 0 }
	slices.SortStableFunc(out.Tenants, func(x, y *domain.Tenant) int {
		switch {
		case failed(x) && !failed(y):
			return -1
		case failed(y) && !failed(x):
			return 1
		}
		return strings.Compare(x.TenantID, y.TenantID)
	})
	if len(out.Tenants) > MaxRunTenants {
		out.Tenants, out.Truncated = out.Tenants[:MaxRunTenants], true
	}
	return out, nil
}

// RevalidationRuns pages runs, newest first.
func (s *Service) RevalidationRuns(ctx context.Context, pageSize int, continuation string) (domain.Page[*domain.RevalidationRun], error) {
	return s.Store.ListRevalidationRuns(ctx, pageSize, continuation)
}

// Rejections pages rejected inbound requests, newest first.
func (s *Service) Rejections(ctx context.Context, pageSize int, continuation string) (domain.Page[domain.Rejection], error) {
	return s.Store.ListRejections(ctx, pageSize, continuation)
}
