package domain

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNeedsConsentLink(t *testing.T) {
	want := map[Status]bool{
		StatusProvisioned: true, StatusRevoked: true,
		StatusConsented: false, StatusDegraded: false, StatusSuspended: false, StatusOffboarded: false,
	}
	for _, s := range Statuses {
		if got := (&Tenant{Status: s}).NeedsConsentLink(); got != want[s] {
			t.Errorf("%s: NeedsConsentLink = %v, want %v", s, got, want[s])
		}
	}
}

func TestValidateCustomerName(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "Contoso Ltd", want: "Contoso Ltd"},
		{in: "  Contoso  ", want: "Contoso"},
		{in: "", err: "is required"},
		{in: "   ", err: "must not be blank"},
		{in: "\u202e\u200b", err: "must hold visible characters"},
		{in: "a\nb", err: "control characters"},
		{in: strings.Repeat("x", 201), err: "at most 200"},
		{in: strings.Repeat("ü", 200), want: strings.Repeat("ü", 200)},
		{in: "bad \xff", err: "UTF-8"},
	} {
		got, err := ValidateCustomerName("customerName", tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%q → %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || ErrorField(err) != "customerName" || ErrorCode(err) != CodeInvalid {
			t.Errorf("%q → %q, %v; want a customerName error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestValidatePrimaryDomain(t *testing.T) {
	if a, u, err := ValidatePrimaryDomain("primaryDomain", ""); err != nil || a != "" || u != "" {
		t.Errorf(`"" → %q %q %v, want no domain`, a, u, err)
	}
	if a, u, err := ValidatePrimaryDomain("primaryDomain", "Bücher.Example"); err != nil || a != "xn--bcher-kva.example" || u != "bücher.example" {
		t.Errorf("bücher → %q %q %v", a, u, err)
	}
	for _, bad := range []string{strings.Repeat("a", 254), "not a domain", "-x.example"} {
		if _, _, err := ValidatePrimaryDomain("primaryDomain", bad); ErrorField(err) != "primaryDomain" || ErrorCode(err) != CodeInvalid {
			t.Errorf("%q → %v, want a primaryDomain error", bad, err)
		}
	}
}

// conflictStore serves one tenant and fails the first `conflicts` writes
// with a stale ETag, as a store does when another writer got there first.
type conflictStore struct {
	TenantStore // unused methods panic
	t           Tenant
	conflicts   int
	reads       int
	writes      int
}

func (s *conflictStore) GetTenant(_ context.Context, id string) (*Tenant, error) {
	s.reads++
	if id != s.t.TenantID {
		return nil, Errorf(CodeNotFound, "tenant %s not found", id)
	}
	c := s.t
	return &c, nil
}

func (s *conflictStore) UpdateTenant(_ context.Context, t *Tenant) error {
	s.writes++
	if s.writes <= s.conflicts {
		return Errorf(CodePreconditionFailed, "stale ETag")
	}
	s.t = *t
	return nil
}

func TestUpdateTenantIsBounded(t *testing.T) {
	rename := func(t *Tenant) (bool, error) { t.CustomerName = "Renamed"; return true, nil }

	s := &conflictStore{t: Tenant{TenantID: "t1", CustomerName: "Old"}}
	if got, err := UpdateTenant(context.Background(), s, "t1", rename); err != nil || got.CustomerName != "Renamed" || s.writes != 1 || s.reads != 1 {
		t.Fatalf("conflict-free: %v, %d reads %d writes; want one of each", err, s.reads, s.writes)
	}

	s = &conflictStore{t: Tenant{TenantID: "t1"}, conflicts: MaxUpdateAttempts - 1}
	if _, err := UpdateTenant(context.Background(), s, "t1", rename); err != nil || s.writes != MaxUpdateAttempts || s.t.CustomerName != "Renamed" {
		t.Fatalf("last attempt: %v after %d writes, want success on write %d", err, s.writes, MaxUpdateAttempts)
	}

	s = &conflictStore{t: Tenant{TenantID: "t1"}, conflicts: 1 << 30}
	_, err := UpdateTenant(context.Background(), s, "t1", rename)
	if !errors.Is(err, ErrUpdateContended) || ErrorCode(err) != CodePreconditionFailed || s.writes != MaxUpdateAttempts {
		t.Fatalf("always stale: %v after %d writes; want ErrUpdateContended (precondition failed) after %d", err, s.writes, MaxUpdateAttempts)
	}
	if !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "t1") {
		t.Errorf("exhausted error %q does not say what gave up", err)
	}

	s = &conflictStore{t: Tenant{TenantID: "t1"}}
	if _, err := UpdateTenant(context.Background(), s, "t1", func(*Tenant) (bool, error) { return false, nil }); err != nil || s.writes != 0 {
		t.Fatalf("write=false: %v, %d writes; want none", err, s.writes)
	}
	if _, err := UpdateTenant(context.Background(), s, "nope", rename); ErrorCode(err) != CodeNotFound {
		t.Fatalf("missing tenant: %v, want not found", err)
	}
}
