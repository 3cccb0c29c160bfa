package tablestore

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

const (
	tenantRowKey        = "profile"
	tenantSchemaVersion = 1
	// maxTenantScan bounds one ListTenants call when the text filter (applied
	// here, not by the service) matches little: the page comes back short,
	// with a token that resumes after the last tenant looked at.
	maxTenantScan = 10000
	tokenTenants  = "tenants"
)

// CreateTenant inserts the record (CodeConflict if the tenant exists) and
// sets t.ETag. Zero CreatedAt/UpdatedAt are set to now; times in t are
// normalised to what the service stores (UTC, 100 ns).
func (s *Store) CreateTenant(ctx context.Context, t *domain.Tenant) error {
	if err := validKey("tenantId", t.TenantID); err != nil {
		return err
	}
	now := s.now()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = now
	}
	normalizeTenantTimes(t)
	if t.HasPendingEvents() {
		return s.writeTenantWithEvents(ctx, t, true)
	}
	etag, err := s.tenants.add(ctx, tenantEntity(s.tenants.name, t))
	if err != nil {
		return err
	}
	t.ETag = etag
	return nil
}

// GetTenant reads one tenant; CodeNotFound if absent.
func (s *Store) GetTenant(ctx context.Context, tenantID string) (*domain.Tenant, error) {
	if err := validKey("tenantId", tenantID); err != nil {
		return nil, err
	}
	r, err := s.tenants.get(ctx, tenantID, tenantRowKey)
	if err != nil {
		return nil, err
	}
	return tenantFromRow(r)
}

// UpdateTenant replaces the record if t.ETag is current (else
// CodePreconditionFailed) and sets t.ETag to the new version.
func (s *Store) UpdateTenant(ctx context.Context, t *domain.Tenant) error {
	if err := validKey("tenantId", t.TenantID); err != nil {
		return err
	}
	normalizeTenantTimes(t)
	if t.HasPendingEvents() {
		return s.writeTenantWithEvents(ctx, t, false)
	}
	etag, err := s.tenants.replace(ctx, tenantEntity(s.tenants.name, t), t.ETag)
	if err != nil {
		return err
	}
	t.ETag = etag
	return nil
}

// ListTenants pages tenants in tenant-ID order. Status and region are
// filtered by the service; Text (case-insensitive substring of customer name
// or primary domain) here, since Table filters have no string functions.
// The token holds the last tenant ID looked at, so filtering here never
// loses the position. It asks the service one page at a time and never holds
// more than one service page. A page may come back shorter than pageSize
// with a non-empty Next when Text matches few tenants.
func (s *Store) ListTenants(ctx context.Context, f domain.TenantFilter, pageSizeIn int, continuation string) (domain.Page[*domain.Tenant], error) {
	var page domain.Page[*domain.Tenant]
	n, err := pageSize(pageSizeIn)
	if err != nil {
		return page, err
	}
	after := ""
	if continuation != "" {
		parts, err := decodeToken(continuation, tokenTenants, 1)
		if err != nil {
			return page, err
		}
		after = parts[0]
	}
	filter, err := tenantFilter(f, after)
	if err != nil {
		return page, err
	}
	text := strings.ToLower(strings.TrimSpace(f.Text))
	var from *serviceToken
	scanned := 0
	for {
		top := n
		if text != "" {
			top = min(maxPageSize, s.tenantScanLimit-scanned)
		}
		rows, next, err := s.tenants.query(ctx, filter, top, from)
		if err != nil {
			return domain.Page[*domain.Tenant]{}, err
		}
		for i, r := range rows {
			t, err := tenantFromRow(r)
			if err != nil {
				return domain.Page[*domain.Tenant]{}, err
			}
			scanned++
			after = t.TenantID
			if !matchesText(t, text) {
				continue
			}
			page.Items = append(page.Items, t)
			if len(page.Items) == n {
				if i < len(rows)-1 || next != nil {
					page.Next = encodeToken(tokenTenants, t.TenantID)
				}
				return page, nil
			}
		}
		if next == nil {
			return page, nil
		}
		if scanned >= s.tenantScanLimit {
			page.Next = encodeToken(tokenTenants, after)
			return page, nil
		}
		from = next
	}
}

// tenantFilter builds the OData filter; every value is quoted.
func tenantFilter(f domain.TenantFilter, after string) (string, error) {
	clauses := []string{"RowKey eq " + quote(tenantRowKey)}
	if after != "" {
		if err := validKey("continuation", after); err != nil {
			return "", err
		}
		clauses = append(clauses, "PartitionKey gt "+quote(after))
	}
	var statuses []string
	for _, st := range f.Statuses {
		if _, err := domain.ParseStatus(string(st)); err != nil {
			return "", err
		}
		if c := "Status eq " + quote(string(st)); !slices.Contains(statuses, c) {
			statuses = append(statuses, c)
		}
	}
	if len(statuses) > 0 {
		clauses = append(clauses, "("+strings.Join(statuses, " or ")+")")
	}
	if f.Region != "" {
		if err := domain.ValidateRegionCode("region", f.Region); err != nil {
			return "", err
		}
		clauses = append(clauses, "Region eq "+quote(f.Region))
	}
	if f.ConsentOutcome != "" {
		if _, err := domain.ParseConsentOutcome(string(f.ConsentOutcome)); err != nil {
			return "", err
		}
		clauses = append(clauses, "LastConsentOutcome eq "+quote(string(f.ConsentOutcome)))
	}
	return strings.Join(clauses, " and "), nil
}

func matchesText(t *domain.Tenant, lowerText string) bool {
	return lowerText == "" ||
		strings.Contains(strings.ToLower(t.CustomerName), lowerText) ||
		strings.Contains(strings.ToLower(t.PrimaryDomain), lowerText) ||
		strings.Contains(strings.ToLower(t.PrimaryDomainUnicode), lowerText)
}

func normalizeTenantTimes(t *domain.Tenant) {
	for _, p := range []*time.Time{&t.StatusChanged, &t.InviteIssuedAt, &t.InviteExpiresAt, &t.ConsentedAt, &t.VerificationPendingSince, &t.LastConsentAt, &t.LastCheckAt, &t.CheckFailingSince, &t.StatusLinkIssuedAt, &t.LiveSince, &t.LastInviteSeen, &t.ConsentAgainAt, &t.CreatedAt, &t.UpdatedAt} {
		*p = storedTime(*p)
	}
}

func tenantEntity(table string, t *domain.Tenant) *entity {
	return newEntity(table, t.TenantID, tenantRowKey).
		int32("V", tenantSchemaVersion).
		str("TenantID", t.TenantID).
		str("Status", string(t.Status)).
		str("StatusReason", t.StatusReason).
		time("StatusChanged", t.StatusChanged).
		str("SuspendedFrom", string(t.SuspendedFrom)).
		str("CustomerName", t.CustomerName).
		str("PrimaryDomain", t.PrimaryDomain).
		str("PrimaryDomainUnicode", t.PrimaryDomainUnicode).
		str("Region", t.Region).
		str("AppID", t.AppID).
		str("TenantKey", t.TenantKey).
		str("TenantKeyCode", t.TenantKeyCode).
		str("InstructionURI", t.InstructionURI).
		json("AllowedIPs", t.AllowedIPs, len(t.AllowedIPs) == 0).
		json("Contacts", t.Contacts, len(t.Contacts) == 0).
		str("LastRequestID", t.LastRequestID).
		str("InviteHash", t.InviteHash).
		time("InviteIssuedAt", t.InviteIssuedAt).
		time("InviteExpiresAt", t.InviteExpiresAt).
		time("ConsentedAt", t.ConsentedAt).
		json("GrantedRoles", t.GrantedRoles, len(t.GrantedRoles) == 0).
		json("MissingRoles", t.MissingRoles, len(t.MissingRoles) == 0).
		boolean("VerificationPending", t.VerificationPending).
		time("VerificationPendingSince", t.VerificationPendingSince).
		boolean("RolesUnknown", t.RolesUnknown).
		str("LastConsentOutcome", string(t.LastConsentOutcome)).
		str("LastConsentError", t.LastConsentError).
		time("LastConsentAt", t.LastConsentAt).
		time("LastCheckAt", t.LastCheckAt).
		str("LastCheckOutcome", t.LastCheckOutcome).
		str("LastCheckError", t.LastCheckError).
		int32("ConsecutiveCheckFailures", t.ConsecutiveCheckFailures).
		str("LastCheckRunID", t.LastCheckRunID).
		time("CheckFailingSince", t.CheckFailingSince).
		int32("StatusLinkGeneration", t.StatusLinkGeneration).
		time("StatusLinkIssuedAt", t.StatusLinkIssuedAt).
		time("LiveSince", t.LiveSince).
		time("LastInviteSeen", t.LastInviteSeen).
		time("ConsentAgainAt", t.ConsentAgainAt).
		time("CreatedAt", t.CreatedAt).
		time("UpdatedAt", t.UpdatedAt).
		int32("EventSeq", t.EventSeq)
}

func tenantFromRow(r *row) (*domain.Tenant, error) {
	if r.err != nil {
		return nil, r.err
	}
	t := &domain.Tenant{
		TenantID:      r.str("PartitionKey"),
		Status:        domain.Status(r.str("Status")),
		StatusReason:  r.str("StatusReason"),
		StatusChanged: r.time("StatusChanged"),
		SuspendedFrom: domain.Status(r.str("SuspendedFrom")),
		// Cleaned on read too: records written before the display rule
		// reach pages, emails and scripts clean.
		CustomerName:             domain.CleanDisplayText(r.str("CustomerName")),
		PrimaryDomain:            r.str("PrimaryDomain"),
		PrimaryDomainUnicode:     r.str("PrimaryDomainUnicode"),
		Region:                   r.str("Region"),
		AppID:                    r.str("AppID"),
		TenantKey:                r.str("TenantKey"),
		TenantKeyCode:            r.str("TenantKeyCode"),
		InstructionURI:           r.str("InstructionURI"),
		LastRequestID:            r.str("LastRequestID"),
		InviteHash:               r.str("InviteHash"),
		InviteIssuedAt:           r.time("InviteIssuedAt"),
		InviteExpiresAt:          r.time("InviteExpiresAt"),
		ConsentedAt:              r.time("ConsentedAt"),
		VerificationPending:      r.boolean("VerificationPending"),
		VerificationPendingSince: r.time("VerificationPendingSince"),
		RolesUnknown:             r.boolean("RolesUnknown"),
		LastConsentOutcome:       domain.ConsentOutcome(r.str("LastConsentOutcome")),
		LastConsentError:         r.str("LastConsentError"),
		LastConsentAt:            r.time("LastConsentAt"),
		LastCheckAt:              r.time("LastCheckAt"),
		LastCheckOutcome:         r.str("LastCheckOutcome"),
		LastCheckError:           r.str("LastCheckError"),
		ConsecutiveCheckFailures: r.int("ConsecutiveCheckFailures"),
		LastCheckRunID:           r.str("LastCheckRunID"),
		CheckFailingSince:        r.time("CheckFailingSince"),
		StatusLinkGeneration:     r.int("StatusLinkGeneration"),
		StatusLinkIssuedAt:       r.time("StatusLinkIssuedAt"),
		LiveSince:                r.time("LiveSince"),
		LastInviteSeen:           r.time("LastInviteSeen"),
		ConsentAgainAt:           r.time("ConsentAgainAt"),
		CreatedAt:                r.time("CreatedAt"),
		UpdatedAt:                r.time("UpdatedAt"),
		EventSeq:                 r.int("EventSeq"),
		ETag:                     r.etag,
	}
	var ips []netip.Prefix
	r.json("AllowedIPs", &ips)
	t.AllowedIPs = ips
	r.json("Contacts", &t.Contacts)
	for i := range t.Contacts {
		t.Contacts[i].Name = domain.CleanDisplayText(t.Contacts[i].Name)
	}
	if t.PrimaryDomainUnicode == "" && t.PrimaryDomain != "" {
		// Written before both forms were kept.
		t.PrimaryDomainUnicode = t.PrimaryDomain
		if _, u, err := domain.NormalizeDomainForms("primaryDomain", t.PrimaryDomain); err == nil {
			t.PrimaryDomainUnicode = u
		}
	}
	r.json("GrantedRoles", &t.GrantedRoles)
	r.json("MissingRoles", &t.MissingRoles)
	if v := r.int("V"); v > tenantSchemaVersion {
		return nil, domain.Errorf(domain.CodeInternal, "tenant %s was written by a newer schema (v%d)", t.TenantID, v)
	}
	if r.err != nil {
		return nil, r.err
	}
	return t, nil
}
