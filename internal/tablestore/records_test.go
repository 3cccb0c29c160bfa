package tablestore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestReserveTenantKeyRaceHasOneOwner(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	const racers = 12
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReserveTenantKey(ctx, "123456789", tenantID(i))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch domain.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Fatalf("tenants %d and %d both reserved the key", winner, i)
			}
			winner = i
		case domain.CodeConflict:
		default:
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody reserved the key")
	}
	owner, err := s.TenantKeyOwner(ctx, "123456789")
	must(t, err)
	if owner != tenantID(winner) {
		t.Fatalf("owner %s; winner %s", owner, tenantID(winner))
	}
	// Re-reserving is idempotent for the owner only.
	must(t, s.ReserveTenantKey(ctx, "123456789", tenantID(winner)))
	wantCode(t, s.ReserveTenantKey(ctx, "123456789", tenantID(winner+1)), domain.CodeConflict)
	_, err = s.TenantKeyOwner(ctx, "999")
	wantCode(t, err, domain.CodeNotFound)
}

func TestInvites(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	inv := domain.Invite{TokenHash: "9f86d081884c7d659a2feaa0c55ad015", TenantID: tenantID(1),
		IssuedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ExpiresAt: time.Date(2025, 1, 9, 3, 4, 5, 0, time.UTC)}
	must(t, s.PutInvite(ctx, inv))
	must(t, s.PutInvite(ctx, inv)) // retry of the same put
	other := inv
	other.TenantID = tenantID(2)
	wantCode(t, s.PutInvite(ctx, other), domain.CodeConflict)
	got, err := s.GetInvite(ctx, inv.TokenHash)
	must(t, err)
	if got != inv {
		t.Fatalf("got %+v; want %+v", got, inv)
	}
	_, err = s.GetInvite(ctx, "unknown")
	wantCode(t, err, domain.CodeNotFound)
}

func TestConsentStateConsumedOnce(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	st := domain.ConsentState{StateHash: "e3b0c44298fc1c149afbf4c8996fb924", TenantID: tenantID(1), ClientIP: "203.0.113.7",
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ExpiresAt: time.Date(2025, 1, 2, 3, 14, 5, 0, time.UTC)}
	must(t, s.PutConsentState(ctx, st))
	must(t, s.PutConsentState(ctx, st))
	got, err := s.ConsumeConsentState(ctx, st.StateHash)
	must(t, err)
	if got != st {
		t.Fatalf("got %+v; want %+v", got, st)
	}
	_, err = s.ConsumeConsentState(ctx, st.StateHash)
	wantCode(t, err, domain.CodeNotFound)

	// Many concurrent consumers of fresh states: exactly one wins each.
	for round := range 5 {
		st.StateHash = fmt.Sprintf("state%d", round)
		must(t, s.PutConsentState(ctx, st))
		const consumers = 8
		errs := make([]error, consumers)
		var wg sync.WaitGroup
		for i := range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.ConsumeConsentState(ctx, st.StateHash)
			}()
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch domain.ErrorCode(err) {
			case "":
				wins++
			case domain.CodeNotFound:
			default:
				t.Fatalf("round %d consumer %d: %v", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d consumers got the state; want exactly 1", round, wins)
		}
	}
}

func TestProvisioningRecordETags(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	rec := &domain.ProvisioningRecord{RequestID: "crm:2025-001", TenantID: tenantID(1), BodyHash: "h1", KeyCode: "123456789"}
	must(t, s.CreateProvisioningRecord(ctx, rec))
	if rec.ETag == "" || rec.ReceivedAt.IsZero() {
		t.Fatalf("create did not fill ETag/ReceivedAt: %+v", rec)
	}
	wantCode(t, s.CreateProvisioningRecord(ctx, &domain.ProvisioningRecord{RequestID: rec.RequestID, TenantID: tenantID(2)}), domain.CodeConflict)

	got, err := s.GetProvisioningRecord(ctx, rec.RequestID)
	must(t, err)
	if *got != *rec {
		t.Fatalf("got %+v; want %+v", got, rec)
	}
	stale := *got
	got.CompletedAt = time.Date(2025, 2, 3, 4, 5, 6, 700, time.UTC)
	got.Outcome = "created"
	must(t, s.UpdateProvisioningRecord(ctx, got))
	stale.Outcome = "updated"
	wantCode(t, s.UpdateProvisioningRecord(ctx, &stale), domain.CodePreconditionFailed)
	again, err := s.GetProvisioningRecord(ctx, rec.RequestID)
	must(t, err)
	if *again != *got || again.Outcome != "created" {
		t.Fatalf("got %+v; want %+v", again, got)
	}
	_, err = s.GetProvisioningRecord(ctx, "nope")
	wantCode(t, err, domain.CodeNotFound)
}

func TestMailClaim(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	keys := []string{
		"consent-link:" + tenantID(1) + ":1",
		"weird/key\\with#all?the\x01forbidden\u0085chars and 'quotes' %41",
		strings.Repeat("é", 300), // escapes past the key budget: hashed
	}
	for _, key := range keys {
		m := &domain.MailRecord{Key: key, Status: "sending", Kind: domain.EmailConsentLink, TenantID: tenantID(1),
			LeaseEnds: time.Date(2025, 1, 1, 0, 5, 0, 0, time.UTC)}
		must(t, s.ClaimMail(ctx, m))
		if m.ETag == "" {
			t.Fatal("ClaimMail did not set the ETag")
		}
		second := &domain.MailRecord{Key: key, Status: "sending", Kind: domain.EmailOpsAlert}
		wantCode(t, s.ClaimMail(ctx, second), domain.CodeConflict)
		if *second != *m {
			t.Fatalf("conflicting claim got %+v; want the existing %+v", second, m)
		}
		got, err := s.GetMail(ctx, key)
		must(t, err)
		if *got != *m {
			t.Fatalf("get %+v; want %+v", got, m)
		}
		stale := *got
		got.Status, got.Detail = "sent", "message-id <x@y>"
		must(t, s.UpdateMail(ctx, got))
		stale.Status = "failed"
		wantCode(t, s.UpdateMail(ctx, &stale), domain.CodePreconditionFailed)
		final, err := s.GetMail(ctx, key)
		must(t, err)
		if final.Status != "sent" || final.Key != key {
			t.Fatalf("final %+v", final)
		}
	}
	_, err := s.GetMail(ctx, "never claimed")
	wantCode(t, err, domain.CodeNotFound)
}

func TestPing(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	must(t, s.Ping(context.Background()))
	// Tables not created yet: Ping says so.
	unready, err := NewFromConnectionString(testkit.Azurite(t).ConnectionString(), Options{TablePrefix: testkit.TablePrefix(t)})
	must(t, err)
	if err := unready.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded without tables")
	}
}

func TestConstructorsValidate(t *testing.T) {
	t.Parallel()
	_, err := NewFromConnectionString(testkit.Azurite(t).ConnectionString(), Options{TablePrefix: "bad-prefix"})
	wantCode(t, err, domain.CodeInvalid)
	_, err = NewFromConnectionString("AccountName=;not a connection string", Options{})
	wantCode(t, err, domain.CodeInvalid)
	s, err := NewFromConnectionString(testkit.Azurite(t).ConnectionString(), Options{TablePrefix: "Ab1"})
	must(t, err)
	for _, name := range s.TableNames() {
		if !strings.HasPrefix(name, "Ab1") || len(name) > 63 {
			t.Fatalf("table name %q", name)
		}
	}
}
