package tablestore

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func allowing(t *testing.T, s *Store, ip string) []string {
	t.Helper()
	ids, err := s.TenantsAllowingIP(context.Background(), netip.MustParseAddr(ip))
	must(t, err)
	return ids
}

func wantAllowing(t *testing.T, s *Store, ip string, want ...string) {
	t.Helper()
	if got := allowing(t, s, ip); !slices.Equal(got, want) {
		t.Fatalf("TenantsAllowingIP(%s) = %v; want %v", ip, got, want)
	}
}

func TestAllowedIPIndex(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	a, b := tenantID(1), tenantID(2)

	must(t, s.SetAllowedIPs(ctx, a, pfx("203.0.113.7/32", "198.51.100.16/28", "2001:db8:5:6::/64")))
	wantAllowing(t, s, "203.0.113.7", a)
	wantAllowing(t, s, "203.0.113.8")
	wantAllowing(t, s, "198.51.100.16", a)
	wantAllowing(t, s, "198.51.100.31", a)
	wantAllowing(t, s, "198.51.100.32")
	wantAllowing(t, s, "198.51.100.15")
	wantAllowing(t, s, "2001:db8:5:6::1", a)
	wantAllowing(t, s, "2001:db8:5:6:ffff:ffff:ffff:ffff", a)
	wantAllowing(t, s, "2001:db8:5:7::1")
	wantAllowing(t, s, "::ffff:203.0.113.7", a) // IPv4-mapped form of an allowed address
	wantAllowing(t, s, "192.0.2.1")

	// Two tenants sharing a range; b also holds a wider one around it.
	must(t, s.SetAllowedIPs(ctx, b, pfx("198.51.100.16/28", "198.51.0.0/16")))
	wantAllowing(t, s, "198.51.100.20", a, b)
	wantAllowing(t, s, "198.51.7.7", b)

	// Replacing a's list removes the stale rows, keeps b's.
	must(t, s.SetAllowedIPs(ctx, a, pfx("203.0.113.7/32")))
	wantAllowing(t, s, "203.0.113.7", a)
	wantAllowing(t, s, "198.51.100.20", b)
	wantAllowing(t, s, "2001:db8:5:6::1")

	// Idempotent: the same call again changes nothing.
	must(t, s.SetAllowedIPs(ctx, a, pfx("203.0.113.7/32")))
	wantAllowing(t, s, "203.0.113.7", a)

	// Empty list removes everything of the tenant, manifest included.
	must(t, s.SetAllowedIPs(ctx, b, nil))
	wantAllowing(t, s, "198.51.100.20")
	m, err := s.readManifest(ctx, b)
	must(t, err)
	if m.etag != "" {
		t.Fatalf("manifest of a tenant without IPs still exists: %+v", m)
	}

	// Broader than a bucket is refused; so is an invalid address.
	wantCode(t, s.SetAllowedIPs(ctx, a, pfx("10.0.0.0/15")), domain.CodeInvalid)
	wantCode(t, s.SetAllowedIPs(ctx, a, pfx("2001:db8::/31")), domain.CodeInvalid)
	_, err = s.TenantsAllowingIP(ctx, netip.Addr{})
	wantCode(t, err, domain.CodeInvalid)
}

func TestAllowedIPsManyPrefixesUseSeveralTransactions(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	// 150 addresses in one /16 bucket: more than one 100-operation transaction.
	var many []netip.Prefix
	for i := range 150 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}), 32))
	}
	must(t, s.SetAllowedIPs(ctx, tenantID(1), many))
	wantAllowing(t, s, "198.51.149.1", tenantID(1))
	must(t, s.SetAllowedIPs(ctx, tenantID(1), many[:1]))
	wantAllowing(t, s, "198.51.149.1")
	wantAllowing(t, s, "198.51.0.1", tenantID(1))
}

// A SetAllowedIPs that died after any step leaves the manifest a superset of
// the rows; the next call cleans up exactly.
func TestAllowedIPsRecoverAfterCrash(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	id := tenantID(3)
	must(t, s.SetAllowedIPs(ctx, id, pfx("203.0.113.0/24")))

	// Simulate a call for 198.51.100.0/24 that crashed after step 2 (manifest
	// widened, new rows written, lease still held, nothing deleted).
	m, err := s.readManifest(ctx, id)
	must(t, err)
	crashedLease := s.now().Add(time.Minute)
	_, err = s.writeManifest(ctx, id, pfx("198.51.100.0/24", "203.0.113.0/24"), crashedLease, "CRM-crashed", m.etag)
	must(t, err)
	must(t, s.upsertIPRows(ctx, id, pfx("198.51.100.0/24")))
	// Simulate a half-done step 3 of an even older call: one row of the
	// manifest already deleted.
	must(t, s.allowedIPs.remove(ctx, bucketOf(pfx("203.0.113.0/24")[0]), ipRowKey(id, pfx("203.0.113.0/24")[0]), ""))

	// While the crashed call's lease runs, others are told to retry later.
	err = s.SetAllowedIPs(ctx, id, pfx("192.0.2.0/24"))
	wantCode(t, err, domain.CodeUnavailable)
	if !domain.IsTransient(err) {
		t.Fatal("lease conflict must be transient")
	}

	// After the lease expires a retry converges.
	later := &Store{}
	*later = *s
	later.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	must(t, later.SetAllowedIPs(ctx, id, pfx("192.0.2.0/24")))
	wantAllowing(t, s, "192.0.2.9", id)
	wantAllowing(t, s, "198.51.100.9")
	wantAllowing(t, s, "203.0.113.9")
	m, err = s.readManifest(ctx, id)
	must(t, err)
	if !slices.Equal(m.prefixes, pfx("192.0.2.0/24")) || !m.leaseUntil.IsZero() {
		t.Fatalf("manifest after recovery = %+v", m)
	}
}

func TestCanonicalPrefixes(t *testing.T) {
	t.Parallel()
	got, err := canonicalPrefixes([]netip.Prefix{
		netip.MustParsePrefix("203.0.113.9/24"), // host bits: masked
		netip.MustParsePrefix("203.0.113.0/24"), // duplicate after masking
		netip.MustParsePrefix("::ffff:198.51.100.0/120"),
		netip.MustParsePrefix("2001:db8::/32"),
	})
	must(t, err)
	want := pfx("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	if bucketOf(pfx("198.51.100.0/24")[0]) != "ip4-c633" || bucketOf(pfx("2001:db8::/32")[0]) != "ip6-20010db8" {
		t.Fatal("bucket names changed: existing indexes would be unreadable")
	}
	if rk := ipRowKey("t", pfx("2001:db8::/32")[0]); rk != "t,2001:db8::!32" || checkKey("rk", rk, false) != nil {
		t.Fatalf("row key %q", rk)
	}
}

// Concurrent updates of one tenant: each call either completes or is told
// to retry (transient); afterwards the index matches the manifest exactly.
func TestAllowedIPsConcurrentUpdatesStayConsistent(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	id := tenantID(5)
	sets := make([][]netip.Prefix, 6)
	for i := range sets {
		sets[i] = pfx(fmt.Sprintf("203.0.%d.0/24", i), fmt.Sprintf("2001:db8:%d::/48", i))
	}
	for round := range 3 {
		errs := make([]error, len(sets))
		var wg sync.WaitGroup
		for i := range sets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.SetAllowedIPs(ctx, id, sets[i])
			}()
		}
		wg.Wait()
		done := 0
		for i, err := range errs {
			if err == nil {
				done++
			} else if !domain.IsTransient(err) {
				t.Fatalf("round %d call %d: %v; want success or a transient error", round, i, err)
			}
		}
		if done == 0 {
			t.Fatalf("round %d: no call completed", round)
		}
		m, err := s.readManifest(ctx, id)
		must(t, err)
		if !m.leaseUntil.IsZero() {
			t.Fatalf("round %d: lease left behind by completed calls: %+v", round, m)
		}
		for i := range sets {
			inManifest := slices.Contains(m.prefixes, sets[i][0])
			for _, ip := range []string{fmt.Sprintf("203.0.%d.9", i), fmt.Sprintf("2001:db8:%d::9", i)} {
				found := slices.Equal(allowing(t, s, ip), []string{id})
				if found != inManifest {
					t.Fatalf("round %d: %s indexed=%v but in manifest=%v (manifest %v)", round, ip, found, inManifest, m.prefixes)
				}
			}
		}
	}
}
