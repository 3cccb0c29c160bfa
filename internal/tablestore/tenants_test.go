package tablestore

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func fullTenant(id string) *domain.Tenant {
	loc := time.FixedZone("X", 3*3600)
	at := func(min int) time.Time { return time.Date(2025, 3, 4, 5, min, 7, 123456789, loc) }
	return &domain.Tenant{
		TenantID:       id,
		Status:         domain.StatusSuspended,
		StatusReason:   "operator: billing hold",
		StatusChanged:  at(1),
		SuspendedFrom:  domain.StatusConsented,
		CustomerName:   "Contoso 'Ltd' — Zürich",
		PrimaryDomain:  "xn--bcher-kva.example",
		Region:         "eu-west",
		AppID:          "11111111-2222-4333-8444-555555555555",
		TenantKey:      "123456789@cvi.example",
		TenantKeyCode:  "123456789",
		InstructionURI: "https://join.example/123456789",
		AllowedIPs:     []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:1::/48")},
		Contacts: []domain.Contact{
			{Name: "Ada", Email: "ada@contoso.example", Role: domain.RoleAdmin},
			{Email: "ops@contoso.example", Role: domain.RoleTechnical},
		},
		LastRequestID:            "crm-42",
		InviteHash:               "abc123",
		InviteIssuedAt:           at(2),
		InviteExpiresAt:          at(3),
		ConsentedAt:              at(4),
		GrantedRoles:             []string{"Calendars.Read", "OnlineMeetings.Read.All"},
		MissingRoles:             []string{"User.Read.All"},
		VerificationPending:      true,
		VerificationPendingSince: at(9),
		RolesUnknown:             true,
		LastCheckAt:              at(5),
		LastCheckOutcome:         "degraded",
		LastCheckError:           "roles missing",
		ConsecutiveCheckFailures: 3,
		LastCheckRunID:           "run-20261125T120000Z",
		PrimaryDomainUnicode:     "bücher.example",
		LastConsentOutcome:       domain.ConsentOutcomeDeclined,
		LastConsentError:         "AADSTS65004",
		LastConsentAt:            at(9),
		CheckFailingSince:        at(8),
		StatusLinkGeneration:     2,
		StatusLinkIssuedAt:       at(10),
		LiveSince:                at(11),
		LastInviteSeen:           at(12),
		ConsentAgainAt:           at(13),
		CreatedAt:                at(6),
		UpdatedAt:                at(7),
		EventSeq:                 12,
	}
}

// fullTenant must set every field, so a field added to domain.Tenant but not
// to the entity mapping fails the round trip below.
func TestFullTenantSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(*fullTenant(tenantID(1)))
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		// Unexported fields (pending events) are not stored.
		if name != "ETag" && v.Type().Field(i).IsExported() && v.Field(i).IsZero() {
			t.Errorf("fullTenant leaves %s unset", name)
		}
	}
}

func TestTenantRoundTripEveryField(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()

	tn := fullTenant(tenantID(1))
	must(t, s.CreateTenant(ctx, tn))
	if tn.ETag == "" {
		t.Fatal("CreateTenant did not set the ETag")
	}
	if tn.StatusChanged.Location() != time.UTC || tn.StatusChanged.Nanosecond() != 123456700 {
		t.Fatalf("times not normalised to UTC/100ns: %v", tn.StatusChanged)
	}
	got, err := s.GetTenant(ctx, tn.TenantID)
	must(t, err)
	if !reflect.DeepEqual(got, tn) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, tn)
	}

	// Change every field (and clear the optional ones) and update.
	got.Status = domain.StatusDegraded
	got.StatusReason = ""
	got.SuspendedFrom = ""
	got.CustomerName = "Fabrikam"
	got.PrimaryDomain = ""
	got.Region = "us-east"
	got.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32")}
	got.Contacts = []domain.Contact{{Email: "x@fabrikam.example", Role: domain.RoleBilling}}
	got.GrantedRoles = nil
	got.MissingRoles = nil
	got.VerificationPending = false
	got.VerificationPendingSince = time.Time{}
	got.ConsentedAt = time.Time{}
	got.ConsecutiveCheckFailures = 0
	got.LastCheckError = ""
	got.UpdatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	oldETag := got.ETag
	must(t, s.UpdateTenant(ctx, got))
	if got.ETag == "" || got.ETag == oldETag {
		t.Fatalf("UpdateTenant ETag %q → %q; want a new one", oldETag, got.ETag)
	}
	again, err := s.GetTenant(ctx, tn.TenantID)
	must(t, err)
	if !reflect.DeepEqual(again, got) {
		t.Fatalf("after update:\n got %+v\nwant %+v", again, got)
	}

	_, err = s.GetTenant(ctx, tenantID(999))
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.GetTenant(ctx, "bad/id")
	wantCode(t, err, domain.CodeInvalid)
}

func TestCreateTenantTwiceConflicts(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	must(t, s.CreateTenant(ctx, fullTenant(tenantID(1))))
	wantCode(t, s.CreateTenant(ctx, fullTenant(tenantID(1))), domain.CodeConflict)
}

func TestUpdateTenantWithoutETagOrMissing(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	tn := fullTenant(tenantID(1))
	wantCode(t, s.UpdateTenant(ctx, tn), domain.CodeInternal) // no ETag: refuses a blind overwrite
	tn.ETag = `W/"datetime'2020-01-01T00%3A00%3A00Z'"`
	wantCode(t, s.UpdateTenant(ctx, tn), domain.CodeNotFound)
}

func TestConcurrentTenantUpdatesOneWins(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	base := fullTenant(tenantID(7))
	must(t, s.CreateTenant(ctx, base))

	for round := range 5 {
		const writers = 6
		errs := make([]error, writers)
		copies := make([]*domain.Tenant, writers)
		var wg sync.WaitGroup
		for i := range writers {
			c := *base
			c.LastCheckOutcome = fmt.Sprintf("round %d writer %d", round, i)
			copies[i] = &c
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.UpdateTenant(ctx, copies[i])
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch domain.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won with the same ETag", round, winner, i)
				}
				winner = i
			case domain.CodePreconditionFailed:
			default:
				t.Fatalf("round %d writer %d: %v; want success or precondition_failed", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		got, err := s.GetTenant(ctx, base.TenantID)
		must(t, err)
		if got.LastCheckOutcome != copies[winner].LastCheckOutcome || got.ETag != copies[winner].ETag {
			t.Fatalf("round %d: stored %q/%s; winner wrote %q/%s", round, got.LastCheckOutcome, got.ETag, copies[winner].LastCheckOutcome, copies[winner].ETag)
		}
		base = got
	}
}

func TestListTenantsFiltersAndPages(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	statuses := domain.Statuses
	regions := []string{"eu-west", "us-east", "ap-south"}
	var all []*domain.Tenant
	for i := range 250 {
		tn := &domain.Tenant{
			TenantID:      tenantID(i),
			Status:        statuses[i%len(statuses)],
			Region:        regions[i%len(regions)],
			CustomerName:  fmt.Sprintf("Customer %03d", i),
			PrimaryDomain: fmt.Sprintf("c%03d.example", i),
		}
		if i%10 == 3 {
			tn.CustomerName = fmt.Sprintf("ACME O'Brien %d", i)
		}
		if i%25 == 4 {
			tn.PrimaryDomain = fmt.Sprintf("acme-%d.example", i)
		}
		if i%7 == 2 {
			tn.LastConsentOutcome = domain.ConsentOutcomeDeclined
		}
		if i%50 == 9 {
			tn.PrimaryDomainUnicode = fmt.Sprintf("bücher-%d.example", i)
		}
		all = append(all, tn)
	}
	createAll(t, s, all)

	cases := []struct {
		name string
		f    domain.TenantFilter
		keep func(*domain.Tenant) bool
	}{
		{"all", domain.TenantFilter{}, func(*domain.Tenant) bool { return true }},
		{"two statuses", domain.TenantFilter{Statuses: []domain.Status{domain.StatusConsented, domain.StatusDegraded, domain.StatusConsented}},
			func(t *domain.Tenant) bool {
				return t.Status == domain.StatusConsented || t.Status == domain.StatusDegraded
			}},
		{"region", domain.TenantFilter{Region: "us-east"}, func(t *domain.Tenant) bool { return t.Region == "us-east" }},
		{"text in name or domain, any case", domain.TenantFilter{Text: "aCmE"}, func(t *domain.Tenant) bool {
			return strings.Contains(t.CustomerName, "ACME") || strings.Contains(t.PrimaryDomain, "acme")
		}},
		{"consent declined", domain.TenantFilter{ConsentOutcome: domain.ConsentOutcomeDeclined}, func(t *domain.Tenant) bool {
			return t.LastConsentOutcome == domain.ConsentOutcomeDeclined
		}},
		{"text in the Unicode domain", domain.TenantFilter{Text: "BÜCHER"}, func(t *domain.Tenant) bool { return strings.Contains(t.PrimaryDomainUnicode, "bücher") }},
		{"quote in text", domain.TenantFilter{Text: "o'brien"}, func(t *domain.Tenant) bool { return strings.Contains(t.CustomerName, "O'Brien") }},
		{"everything", domain.TenantFilter{Statuses: []domain.Status{domain.StatusProvisioned, domain.StatusRevoked}, Region: "eu-west", Text: "customer"},
			func(t *domain.Tenant) bool {
				return (t.Status == domain.StatusProvisioned || t.Status == domain.StatusRevoked) && t.Region == "eu-west" && strings.HasPrefix(t.CustomerName, "Customer")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var want []string
			for _, tn := range all {
				if tc.keep(tn) {
					want = append(want, tn.TenantID)
				}
			}
			if len(want) == 0 {
				t.Fatal("test data matches nothing")
			}
			got := listAllIDs(t, s, tc.f, 40)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d tenants %v\nwant %d %v", len(got), got, len(want), want)
			}
		})
	}
}

// listAllIDs follows continuation tokens to the end, checking page sizes.
func listAllIDs(t *testing.T, s *Store, f domain.TenantFilter, size int) []string {
	ids, _ := listAllIDsCounting(t, s, f, size)
	return ids
}

func listAllIDsCounting(t *testing.T, s *Store, f domain.TenantFilter, size int) (ids []string, pages int) {
	t.Helper()
	token := ""
	for pages = 1; ; pages++ {
		if pages > 1000 {
			t.Fatal("listing never ends")
		}
		page, err := s.ListTenants(context.Background(), f, size, token)
		must(t, err)
		if len(page.Items) > size {
			t.Fatalf("page of %d items; page size %d", len(page.Items), size)
		}
		for _, tn := range page.Items {
			ids = append(ids, tn.TenantID)
		}
		if page.Next == "" {
			return ids, pages
		}
		token = page.Next
	}
}

func createAll(t *testing.T, s *Store, tenants []*domain.Tenant) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(tenants))
	sem := make(chan struct{}, 16)
	for _, tn := range tenants {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- s.CreateTenant(context.Background(), tn)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
}

func TestListTenantsShortPagesWhenTextIsRare(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	s.tenantScanLimit = 7 // a call stops after looking at 7 tenants
	var all []*domain.Tenant
	var want []string
	for i := range 60 {
		tn := &domain.Tenant{TenantID: tenantID(i), Status: domain.StatusProvisioned, Region: "eu-west", CustomerName: fmt.Sprintf("n%d", i)}
		if i%13 == 0 {
			tn.CustomerName = "needle"
			want = append(want, tn.TenantID)
		}
		all = append(all, tn)
	}
	createAll(t, s, all)
	// Page size 2 with a service page of 1000: every call scans until the
	// page is full or the scan limit is reached.
	got, pages := listAllIDsCounting(t, s, domain.TenantFilter{Text: "needle"}, 2)
	if !slices.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	if pages < 60/7 {
		t.Fatalf("%d pages; the scan limit of 7 should have cut the listing into at least %d", pages, 60/7)
	}
}

func TestListTenantsRejectsBadInput(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	_, err := s.ListTenants(ctx, domain.TenantFilter{}, 1001, "")
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.ListTenants(ctx, domain.TenantFilter{}, -1, "")
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.ListTenants(ctx, domain.TenantFilter{}, 10, "not a token!")
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.ListTenants(ctx, domain.TenantFilter{}, 10, encodeToken(tokenAudit, "x", "y", "z"))
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.ListTenants(ctx, domain.TenantFilter{Statuses: []domain.Status{"Consented' or 1 eq 1"}}, 10, "")
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.ListTenants(ctx, domain.TenantFilter{Region: "x' or Region ne '"}, 10, "")
	wantCode(t, err, domain.CodeInvalid)
	page, err := s.ListTenants(ctx, domain.TenantFilter{}, 0, "")
	must(t, err)
	if len(page.Items) != 0 || page.Next != "" {
		t.Fatalf("empty table listed %+v", page)
	}
}

func TestTenantFilterQuotesEveryValue(t *testing.T) {
	t.Parallel()
	f, err := tenantFilter(domain.TenantFilter{Statuses: []domain.Status{domain.StatusConsented, domain.StatusRevoked}, Region: "eu-west"}, "o'hare")
	must(t, err)
	want := "RowKey eq 'profile' and PartitionKey gt 'o''hare' and (Status eq 'Consented' or Status eq 'Revoked') and Region eq 'eu-west'"
	if f != want {
		t.Fatalf("filter\n got %s\nwant %s", f, want)
	}
}

func TestEntityLimitsEnforcedByStore(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()

	tn := fullTenant(tenantID(1))
	tn.LastCheckError = strings.Repeat("x", maxStringBytes/2+1) // 64 KiB + 2 bytes in UTF-16
	err := s.CreateTenant(ctx, tn)
	wantCode(t, err, domain.CodeInvalid)
	if !strings.Contains(err.Error(), "LastCheckError") {
		t.Fatalf("error %q does not name the property", err)
	}
	_, err = s.GetTenant(ctx, tn.TenantID)
	wantCode(t, err, domain.CodeNotFound)

	// Exactly 64 KiB is allowed, and Azurite stores it.
	tn.LastCheckError = strings.Repeat("x", maxStringBytes/2)
	must(t, s.CreateTenant(ctx, tn))

	// Many contacts make the JSON property too large.
	big := fullTenant(tenantID(2))
	for i := range 2000 {
		big.Contacts = append(big.Contacts, domain.Contact{Name: strings.Repeat("n", 20), Email: fmt.Sprintf("user%d@contoso.example", i), Role: domain.RoleAdmin})
	}
	wantCode(t, s.CreateTenant(ctx, big), domain.CodeInvalid)

	// Times outside the range Azure stores.
	old := fullTenant(tenantID(3))
	old.CreatedAt = time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	wantCode(t, s.CreateTenant(ctx, old), domain.CodeInvalid)
}

// Before EnsureTables has run (the handler creates tables in the background
// after the host's readiness probe), a read must be retried, not taken as
// "no such tenant" and a request rejected for it.
func TestMissingTableIsTransient(t *testing.T) {
	retry := fastRetry
	s, err := NewFromConnectionString(testkit.Azurite(t).ConnectionString(), Options{TablePrefix: testkit.TablePrefix(t), Retry: &retry})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	_, err = s.GetTenant(context.Background(), "4b1f6a2e-9c1d-4e7a-8f3b-2d5c6e7f8a9b")
	if got := domain.ErrorCode(err); got != domain.CodeUnavailable {
		t.Fatalf("GetTenant on a missing table: code %q (err %v), want %q", got, err, domain.CodeUnavailable)
	}
}
