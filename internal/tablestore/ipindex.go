package tablestore

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The allowed-IP index has one partition per IPv4 /16 or IPv6 /32 (the
// broadest prefixes domain validation admits, so every allowed prefix lies in
// exactly one bucket) and one row per (tenant, prefix). A lookup reads the
// address's bucket and checks each prefix.
//
// Each tenant also has a manifest row listing every prefix that may have a
// row in the index, and a lease. SetAllowedIPs keeps "manifest ⊇ index rows"
// true at every step, so a retry after a crash anywhere knows what to clean:
//
//  1. take the lease and set manifest := old ∪ new (ETag-checked)
//  2. upsert rows for new
//  3. delete rows for old \ new (only while the lease has time left)
//  4. manifest := new and release the lease (ETag-checked against step 1)
//
// The lease serialises concurrent updates of one tenant: without it, one
// call's step 3 could delete rows another call just wrote. The lease names
// its owner (the provisioning request ID): a retry of the same request after
// a crash, or after its own lease write landed late, re-enters the lease at
// once (the same request always wants the same prefixes, so the two can
// never delete each other's rows). Another owner that finds the lease held,
// or a call that loses it, gets CodeUnavailable (retry later); a crashed
// call's lease expires after ipLease, which is short because the whole
// update is a handful of calls.
const (
	manifestRowKey   = "manifest"
	maxTenantPrefix  = 1000
	manifestAttempts = 3
	ipLease          = 45 * time.Second
	// ipLeaseMargin is the least lease time left for step 3 to start, so a
	// delete never lands after the lease passed to someone else.
	ipLeaseMargin = 30 * time.Second
)

// SetAllowedIPs makes the index hold exactly prefixes for the tenant, as an
// anonymous owner (it never re-enters another call's lease).
func (s *Store) SetAllowedIPs(ctx context.Context, tenantID string, prefixes []netip.Prefix) error {
	return s.SetAllowedIPsAs(ctx, tenantID, "", prefixes)
}

// SetAllowedIPsAs makes the index hold exactly prefixes for the tenant on
// behalf of owner. It is idempotent and safe to retry after a failure at
// any point; a retry with the same owner re-enters that owner's lease.
func (s *Store) SetAllowedIPsAs(ctx context.Context, tenantID, owner string, prefixes []netip.Prefix) error {
	if err := validKey("tenantId", tenantID); err != nil {
		return err
	}
	if owner == "" {
		owner = "anonymous:" + newID()
	}
	want, err := canonicalPrefixes(prefixes)
	if err != nil {
		return err
	}

	var m manifest
	var leaseUntil time.Time
	var etag string
	for attempt := 1; ; attempt++ {
		m, err = s.readManifest(ctx, tenantID)
		if err != nil {
			return err
		}
		now := s.now()
		if now.Before(m.leaseUntil) && m.leaseOwner != owner {
			return domain.Errorf(domain.CodeUnavailable, "allowed IPs of tenant %s are being updated by another call (lease until %s); retry later", tenantID, m.leaseUntil.Format(time.RFC3339))
		}
		leaseUntil = now.Add(ipLease)
		etag, err = s.writeManifest(ctx, tenantID, union(m.prefixes, want), leaseUntil, owner, m.etag)
		if err == nil {
			break
		}
		if attempt == manifestAttempts || !(isCode(err, domain.CodeConflict) || isCode(err, domain.CodePreconditionFailed)) {
			return fmt.Errorf("lease allowed-IP manifest of tenant %s: %w", tenantID, err)
		}
	}

	if err := s.upsertIPRows(ctx, tenantID, want); err != nil {
		return err
	}
	var stale []batchOp
	for _, p := range m.prefixes {
		if !slices.Contains(want, p) {
			stale = append(stale, deleteOp(s.allowedIPs.name, bucketOf(p), ipRowKey(tenantID, p)))
		}
	}
	if len(stale) > 0 {
		if s.now().Add(ipLeaseMargin).After(leaseUntil) {
			return domain.Errorf(domain.CodeUnavailable, "allowed-IP update of tenant %s ran out of lease time; retry", tenantID)
		}
		if err := s.deleteIPRows(ctx, stale); err != nil {
			return err
		}
	}

	if len(want) == 0 {
		err = s.allowedIPs.remove(ctx, manifestKey(tenantID), manifestRowKey, etag)
	} else {
		_, err = s.writeManifest(ctx, tenantID, want, time.Time{}, "", etag)
	}
	if isCode(err, domain.CodePreconditionFailed) || isCode(err, domain.CodeNotFound) {
		return domain.Wrap(domain.CodeUnavailable, err, "allowed-IP update of tenant %s lost its lease; retry", tenantID)
	}
	return err
}

// TenantsAllowingIP lists (sorted, unique) the tenants whose allow-list
// contains addr.
func (s *Store) TenantsAllowingIP(ctx context.Context, addr netip.Addr) ([]string, error) {
	if !addr.IsValid() {
		return nil, domain.FieldError("ip", "is not a valid IP address")
	}
	addr = addr.Unmap().WithZone("")
	filter := "PartitionKey eq " + quote(bucketOf(netip.PrefixFrom(addr, addr.BitLen())))
	var ids []string
	var from *serviceToken
	for {
		rows, next, err := s.allowedIPs.query(ctx, filter, maxPageSize, from)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			p, err := netip.ParsePrefix(r.str("Prefix"))
			if err != nil {
				return nil, domain.Wrap(domain.CodeInternal, err, "allowed-IP row %q", r.str("RowKey"))
			}
			if id := r.str("TenantID"); p.Contains(addr) && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if next == nil {
			break
		}
		from = next
	}
	slices.Sort(ids)
	return ids, nil
}

func (s *Store) upsertIPRows(ctx context.Context, tenantID string, ps []netip.Prefix) error {
	ops := make([]batchOp, 0, len(ps))
	for _, p := range ps {
		ops = append(ops, upsertOp(newEntity(s.allowedIPs.name, bucketOf(p), ipRowKey(tenantID, p)).
			str("TenantID", tenantID).
			str("Prefix", p.String())))
	}
	if err := s.allowedIPs.submit(ctx, ops); err != nil {
		return fmt.Errorf("index allowed IPs of tenant %s: %w", tenantID, err)
	}
	return nil
}

// deleteIPRows deletes in transactions; a row already gone (a retry after a
// crash) fails its transaction, so that partition is redone row by row.
func (s *Store) deleteIPRows(ctx context.Context, ops []batchOp) error {
	err := s.allowedIPs.submit(ctx, ops)
	if err == nil || !isCode(err, domain.CodeNotFound) {
		return err
	}
	for _, op := range ops {
		if err := s.allowedIPs.remove(ctx, op.e.pk, op.e.rk, ""); err != nil && !isCode(err, domain.CodeNotFound) {
			return err
		}
	}
	return nil
}

// manifest is a tenant's record of possibly indexed prefixes.
type manifest struct {
	prefixes   []netip.Prefix
	leaseUntil time.Time
	leaseOwner string
	etag       string // "" when absent
}

func (s *Store) readManifest(ctx context.Context, tenantID string) (manifest, error) {
	r, err := s.allowedIPs.get(ctx, manifestKey(tenantID), manifestRowKey)
	if isCode(err, domain.CodeNotFound) {
		return manifest{}, nil
	}
	if err != nil {
		return manifest{}, fmt.Errorf("read allowed-IP manifest: %w", err)
	}
	m := manifest{leaseUntil: r.time("LeaseUntil"), leaseOwner: r.str("LeaseOwner"), etag: r.etag}
	r.json("Prefixes", &m.prefixes)
	if r.err != nil {
		return manifest{}, r.err
	}
	return m, nil
}

// writeManifest inserts (etag "") or replaces (etag current) the manifest.
func (s *Store) writeManifest(ctx context.Context, tenantID string, ps []netip.Prefix, leaseUntil time.Time, owner, etag string) (string, error) {
	e := newEntity(s.allowedIPs.name, manifestKey(tenantID), manifestRowKey).
		str("TenantID", tenantID).
		json("Prefixes", ps, false).
		time("LeaseUntil", leaseUntil).
		text("LeaseOwner", owner).
		time("UpdatedAt", s.now())
	if etag == "" {
		return s.allowedIPs.add(ctx, e)
	}
	return s.allowedIPs.replace(ctx, e, etag)
}

func manifestKey(tenantID string) string { return "tenant-" + tenantID }

// canonicalPrefixes masks, unmaps, de-duplicates and sorts, and rejects
// prefixes broader than a bucket.
func canonicalPrefixes(in []netip.Prefix) ([]netip.Prefix, error) {
	if len(in) > maxTenantPrefix {
		return nil, domain.FieldError("allowedIps", "holds %d prefixes; at most %d", len(in), maxTenantPrefix)
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, p := range in {
		field := fmt.Sprintf("allowedIps[%d]", i)
		if !p.IsValid() {
			return nil, domain.FieldError(field, "is not a valid prefix")
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
		if p.Addr().Is4() && p.Bits() < domain.MinIPv4PrefixLen || p.Addr().Is6() && p.Bits() < domain.MinIPv6PrefixLen {
			return nil, domain.FieldError(field, "%s is broader than /%d (IPv4) or /%d (IPv6)", p, domain.MinIPv4PrefixLen, domain.MinIPv6PrefixLen)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sortPrefixes(out)
	return out, nil
}

func union(a, b []netip.Prefix) []netip.Prefix {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sortPrefixes(out)
	return out
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

// bucketOf names the partition of a prefix that fits in one bucket.
func bucketOf(p netip.Prefix) string {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		return "ip4-" + hex.EncodeToString(b[:2])
	}
	b := a.As16()
	return "ip6-" + hex.EncodeToString(b[:4])
}

// ipRowKey is "<tenant>,<prefix>" with '/' (forbidden in keys) as '!'.
func ipRowKey(tenantID string, p netip.Prefix) string {
	return tenantID + "," + strings.Replace(p.String(), "/", "!", 1)
}
