package consent

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// An operator suspends while the callback checks Graph: the suspend wins,
// nothing is recorded, no email is queued, and the refusal is audited with
// its reason and both addresses.
func TestCallbackRacingSuspendRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	q := success(tn.TenantID, e.state(tn.TenantID, "198.51.100.9"))
	e.chk.check = func() (domain.ConsentCheck, error) {
		e.suspend(tn.TenantID) // lands between the callback's read and its write
		return allRoles, nil
	}
	_, err := e.callback(q)
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedTenantInactive || r.Stage != StageCallback {
		t.Fatalf("callback racing a suspend: %v", err)
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusSuspended || got.SuspendedFrom != domain.StatusProvisioned || !got.ConsentedAt.IsZero() || len(got.GrantedRoles) != 0 {
		t.Fatalf("tenant = %s from %s consentedAt %v roles %v", got.Status, got.SuspendedFrom, got.ConsentedAt, got.GrantedRoles)
	}
	if n := len(e.out.Jobs("")); n != 0 {
		t.Errorf("%d emails queued for a suspended tenant", n)
	}
	a := teststore.AuditActions(t, e.store, tn.TenantID)
	if len(a["consent.verified"]) != 0 {
		t.Error("consent.verified audited for a suspended tenant")
	}
	ref := a["consent.refused"]
	if len(ref) != 1 || ref[0].Reason != "tenant-suspended" || ref[0].SourceIP != adminIP.String() || ref[0].Details["startIp"] != "198.51.100.9" {
		t.Fatalf("refusal audit = %+v", ref)
	}
}

// The same race on the pending path: no pending mark, no re-check.
func TestPendingCallbackRacingSuspendRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.svc.VerifyTimeout = 0
	tn, q := e.consenting()
	e.chk.check = func() (domain.ConsentCheck, error) {
		e.suspend(tn.TenantID)
		return domain.ConsentCheck{Outcome: domain.CheckDegraded, SPEnabled: true, MissingRoles: domain.RequiredGraphRoles}, nil
	}
	_, err := e.callback(q)
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedTenantInactive {
		t.Fatalf("pending callback racing a suspend: %v", err)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusSuspended || got.VerificationPending {
		t.Fatalf("tenant = %s pending=%v", got.Status, got.VerificationPending)
	}
	if n := len(e.out.Scheduled()); n != 0 {
		t.Errorf("%d re-checks scheduled for a suspended tenant", n)
	}
}

// A callback for a tenant suspended before it arrived asks Graph nothing.
func TestCallbackForSuspendedTenantChecksNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn, q := e.consenting()
	e.suspend(tn.TenantID)
	e.answer(allRoles)
	_, err := e.callback(q)
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedTenantInactive {
		t.Fatalf("callback of a suspended tenant: %v", err)
	}
	if e.chk.calls != 0 {
		t.Errorf("Graph checked %d times for a suspended tenant", e.chk.calls)
	}
}

// Missing roles right after consent (SP present and enabled) are recorded as
// pending with the first re-check scheduled, never as Degraded.
func TestMissingRolesAfterConsentArePending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.svc.VerifyTimeout = 0
	tn, q := e.consenting()
	e.chk.check = func() (domain.ConsentCheck, error) {
		return domain.ConsentCheck{Outcome: domain.CheckDegraded, SPEnabled: true, Roles: domain.RequiredGraphRoles[:6],
			MissingRoles: domain.RequiredGraphRoles[6:], Detail: "missing roles"}, nil
	}
	res, err := e.callback(q)
	if err != nil || res.Kind != CallbackPending {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusProvisioned || !got.VerificationPending || got.VerificationPendingSince.IsZero() {
		t.Fatalf("tenant = %s pending=%v since %v", got.Status, got.VerificationPending, got.VerificationPendingSince)
	}
	msgs := e.out.Scheduled()
	if len(msgs) != 1 || msgs[0].At.IsZero() {
		t.Fatalf("re-checks scheduled: %+v", msgs)
	}
	b := &msgs[0].Batch
	if rc, ok := domain.ParseRecheck(b, tn.TenantID); !ok || rc.Attempt != 1 || !rc.Of(got) {
		t.Fatalf("first re-check = %+v %v", rc, ok)
	}
}

// A disabled service principal is a real finding, not lag.
func TestDisabledServicePrincipalIsDegraded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.svc.VerifyTimeout = 0
	tn, q := e.consenting()
	e.chk.check = func() (domain.ConsentCheck, error) {
		return domain.ConsentCheck{Outcome: domain.CheckDegraded, SPEnabled: false, Roles: domain.RequiredGraphRoles, Detail: "service principal disabled"}, nil
	}
	res, err := e.callback(q)
	if err != nil || res.Kind != CallbackDegraded || !res.Disabled {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusDegraded || got.VerificationPending {
		t.Fatalf("tenant = %s pending=%v", got.Status, got.VerificationPending)
	}
}

// The admin API's consent-link action reads the tenant, then issues the
// link: a suspend in between wins (the link write is conditional on the
// tenant's state under its ETag).
func TestIssueLinkAfterSuspendIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	before := teststore.Tenant(t, e.store, tn.TenantID)
	e.suspend(tn.TenantID)
	if _, err := e.svc.IssueLink(context.Background(), tn.TenantID, "operator:x", "Olivia"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("IssueLink on a suspended tenant: %v", err)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusSuspended || got.InviteHash != before.InviteHash {
		t.Fatalf("tenant = %s, link changed=%v", got.Status, got.InviteHash != before.InviteHash)
	}
}

// Reloading a finished callback shows its recorded result without a check.
func TestReloadShowsRecordedResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, q := e.consenting()
	e.answer(allRoles)
	if res, err := e.callback(q); err != nil || res.Kind != CallbackGranted {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	calls, emails := e.chk.calls, len(e.out.Jobs(""))
	res, err := e.svc.Callback(context.Background(), q, netip.MustParseAddr("198.51.100.8")) // another allowed address
	if err != nil || res.Kind != CallbackGranted || !res.Replayed {
		t.Fatalf("reload = %+v, %v", res, err)
	}
	if e.chk.calls != calls || len(e.out.Jobs("")) != emails {
		t.Errorf("reload checked %d times and queued %d emails", e.chk.calls-calls, len(e.out.Jobs(""))-emails)
	}
	// From outside the allow-list a reload shows nothing.
	var invalid *InvalidCallback
	if _, err := e.svc.Callback(context.Background(), q, netip.MustParseAddr("203.0.113.1")); !errors.As(err, &invalid) {
		t.Fatalf("reload from outside the allow-list: %v", err)
	}
}
