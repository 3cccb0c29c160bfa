package adminapi

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// searchTenants is GET /tenants: the console's tenant search, answered by
// the operations service (the store's change-tracked in-memory listing).
func (a *API) searchTenants(c *call) error {
	q, err := query(c, "status", "region", "q", "consentOutcome", "sort", "pageSize", "continuation")
	if err != nil {
		return err
	}
	var errs domain.Errors
	var tq domain.TenantQuery
	for _, v := range q["status"] {
		for _, s := range strings.Split(v, ",") {
			st, err := domain.ParseStatus(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, domain.FieldError("status", "%q is not a status (one of %s)", s, statusNames()))
				continue
			}
			if !slices.Contains(tq.Filter.Statuses, st) {
				tq.Filter.Statuses = append(tq.Filter.Statuses, st)
			}
		}
	}
	if vs, ok := q["region"]; ok {
		switch {
		case len(vs) > 1:
			errs = append(errs, domain.FieldError("region", "may be given once"))
		case !a.deps.Regions.Has(vs[0]):
			errs = append(errs, domain.FieldError("region", "%q is not a region this deployment serves (%s)", vs[0], a.deps.Regions.Codes()))
		default:
			tq.Filter.Region = vs[0]
		}
	}
	if vs, ok := q["q"]; ok {
		if err := domain.ValidateText("q", vs[0], 1, 200); len(vs) > 1 || err != nil {
			errs = append(errs, domain.FieldError("q", "must be given once, 1 to 200 characters without control characters"))
		} else {
			tq.Filter.Text = vs[0]
		}
	}
	if vs, ok := q["consentOutcome"]; ok {
		o, err := domain.ParseConsentOutcome(vs[0])
		if len(vs) > 1 || err != nil {
			errs = append(errs, domain.FieldError("consentOutcome", "must be given once: one of consented, degraded, declined"))
		} else {
			tq.Filter.ConsentOutcome = o
		}
	}
	if vs, ok := q["sort"]; ok {
		key, desc, err := domain.ParseTenantSort(vs[0])
		if len(vs) > 1 || err != nil {
			errs = append(errs, domain.FieldError("sort", "must be one of tenantId, name, created, status, optionally prefixed with - (descending)"))
		} else {
			tq.Sort, tq.Desc = key, desc
		}
	} else {
		tq.Sort = domain.SortTenantID
	}
	pg := pagingParams(q, &errs)
	fingerprint := searchFingerprint(tq)
	if pg.continuation != "" && len(errs) == 0 {
		off, err := decodeSearchToken(pg.continuation, fingerprint)
		if err != nil {
			errs = append(errs, err)
		}
		tq.Offset = off
	}
	if err := errs.Err(); err != nil {
		return err
	}
	tq.Limit = pg.size
	res, err := a.deps.Operations.SearchTenants(c.ctx, tq)
	if err != nil {
		return err
	}
	out := searchPageView{Items: make([]tenantView, 0, len(res.Items)), Total: res.Total}
	for _, t := range res.Items {
		out.Items = append(out.Items, viewTenant(t))
	}
	if next := tq.Offset + len(res.Items); next < res.Total && len(res.Items) > 0 {
		tok := encodeSearchToken(next, fingerprint)
		out.Continuation = &tok
	}
	return writeJSON(c.w, http.StatusOK, out)
}

type searchPageView struct {
	Items        []tenantView `json:"items"`
	Continuation *string      `json:"continuation"`
	Total        int          `json:"total"`
}

// Search continuation tokens are offsets bound to the query that made them
// (a token replayed with other filters would skip or repeat tenants).
func searchFingerprint(q domain.TenantQuery) string {
	statuses := make([]string, len(q.Filter.Statuses))
	for i, s := range q.Filter.Statuses {
		statuses[i] = string(s)
	}
	slices.Sort(statuses)
	return domain.Digest(strings.Join(statuses, ",")+"\x00"+q.Filter.Region+"\x00"+string(q.Filter.ConsentOutcome)+"\x00"+strings.ToLower(q.Filter.Text)+"\x00"+string(q.Sort)+strconv.FormatBool(q.Desc), 6)
}

func encodeSearchToken(offset int, fingerprint string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("search:" + strconv.Itoa(offset) + ":" + fingerprint))
}

func decodeSearchToken(tok, fingerprint string) (int, *domain.Error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "search" {
		return 0, domain.FieldError("continuation", "is not a token from a previous page of this listing")
	}
	off, err := strconv.Atoi(parts[1])
	if err != nil || off < 0 {
		return 0, domain.FieldError("continuation", "is not a token from a previous page of this listing")
	}
	if parts[2] != fingerprint {
		return 0, domain.FieldError("continuation", "belongs to a listing with other filters or order; start again from the first page")
	}
	return off, nil
}
