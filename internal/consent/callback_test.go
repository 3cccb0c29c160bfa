package consent

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A verified callback records Consented and queues exactly one
// consent-confirmed email (domain.ConsentConfirmedJob's key), no re-check.
func TestVerifiedCallbackSendsOneConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn, q := e.consenting()
	e.answer(allRoles)
	res, err := e.callback(q)
	if err != nil || res.Kind != CallbackGranted || res.Retry.URL == "" {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusConsented || got.StatusReason != "admin consent verified" || got.ConsentedAt.IsZero() || len(got.GrantedRoles) != len(domain.RequiredGraphRoles) {
		t.Fatalf("tenant = %s (%q) consentedAt %v roles %v", got.Status, got.StatusReason, got.ConsentedAt, got.GrantedRoles)
	}
	jobs := e.out.Jobs("")
	wantKey := "consent-confirmed:" + tn.TenantID + ":" + strconv.FormatInt(got.ConsentedAt.Unix(), 10)
	if len(jobs) != 1 || jobs[0].Kind != domain.EmailConsentConfirmed || jobs[0].IdempotencyKey != wantKey || jobs[0].Recipients[0] != "admin@contoso.example" {
		t.Fatalf("emails = %+v, want one keyed %s", jobs, wantKey)
	}
	if n := len(e.out.Scheduled()); n != 0 {
		t.Errorf("%d re-checks scheduled for a verified consent", n)
	}
	v := teststore.AuditActions(t, e.store, tn.TenantID)["consent.verified"]
	if len(v) != 1 || v[0].FromState != domain.StatusProvisioned || v[0].ToState != domain.StatusConsented || v[0].Details["statusChanged"] != "true" {
		t.Fatalf("verified audit = %+v", v)
	}
}

// A state older than StateTTL is refused with a "try again" link and
// nothing is checked or recorded.
func TestExpiredStateIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn, q := e.consenting()
	e.answer(allRoles)
	e.svc.Now = func() time.Time { return time.Now().Add(StateTTL + time.Second) }
	_, err := e.callback(q)
	var invalid *InvalidCallback
	if !errors.As(err, &invalid) || invalid.Reason != "the sign-in took longer than 10 minutes" || invalid.Retry.URL == "" {
		t.Fatalf("callback with an expired state: %v", err)
	}
	if e.chk.calls != 0 || len(e.out.Jobs("")) != 0 {
		t.Errorf("an expired state was acted on: %d checks, %d emails", e.chk.calls, len(e.out.Jobs("")))
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.Status != domain.StatusProvisioned || !got.LastCheckAt.IsZero() {
		t.Errorf("tenant = %s, checked at %v", got.Status, got.LastCheckAt)
	}
}

// A callback returning from an address that neither started consent nor is
// on the tenant's allow-list is refused and audited; nothing is checked.
func TestCallbackFromOutsideTheAllowListIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn, q := e.consenting()
	e.answer(allRoles)
	outside := netip.MustParseAddr("203.0.113.5")
	_, err := e.svc.Callback(context.Background(), q, outside)
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedIPNotAllowed || r.Stage != StageCallback {
		t.Fatalf("callback from outside the allow-list: %v", err)
	}
	if e.chk.calls != 0 || len(e.out.Jobs("")) != 0 {
		t.Errorf("refused callback checked %d times, queued %d emails", e.chk.calls, len(e.out.Jobs("")))
	}
	ref := teststore.AuditActions(t, e.store, tn.TenantID)["consent.refused"]
	if len(ref) != 1 || ref[0].SourceIP != outside.String() || ref[0].Details["startIp"] != adminIP.String() {
		t.Fatalf("refusal audit = %+v", ref)
	}
}

// The app still not in the tenant after the whole wait (AADSTS700016):
// the admin is told consent was not granted and nothing is recorded.
func TestAppNotInTenantAfterTheWaitIsNotGranted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.svc.VerifyTimeout = 0
	tn, q := e.consenting()
	e.chk.check = func() (domain.ConsentCheck, error) {
		return domain.ConsentCheck{Outcome: domain.CheckRevoked, AADSTS: domain.AADSTSAppNotFound, Detail: "app not found in tenant: AADSTS700016"}, nil
	}
	res, err := e.callback(q)
	if err != nil || res.Kind != CallbackDeclined || res.ErrorDescription == "" {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusProvisioned || got.VerificationPending || !got.LastCheckAt.IsZero() {
		t.Fatalf("tenant = %s pending=%v checked %v", got.Status, got.VerificationPending, got.LastCheckAt)
	}
	if len(e.out.Jobs("")) != 0 || len(e.out.Scheduled()) != 0 {
		t.Errorf("not granted queued %d emails and %d re-checks", len(e.out.Jobs("")), len(e.out.Scheduled()))
	}
	if a := teststore.AuditActions(t, e.store, tn.TenantID)["consent.not-granted"]; len(a) != 1 || a[0].Details["aadsts"] != "700016" {
		t.Errorf("not-granted audit = %+v", a)
	}
}

// Microsoft's error redirect is a decline: recorded on the tenant (the AADSTS
// code), no check, the description shown cut and marked.
func TestDeclinedCallbackIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	state := e.state(tn.TenantID, adminIP.String())
	q := url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: User declined to consent."}, "state": {state}, "tenant": {tn.TenantID}}
	res, err := e.callback(q)
	if err != nil || res.Kind != CallbackDeclined || res.ErrorCode != "access_denied" {
		t.Fatalf("callback = %+v, %v", res, err)
	}
	if got := teststore.Tenant(t, e.store, tn.TenantID); got.LastConsentOutcome != domain.ConsentOutcomeDeclined || got.LastConsentError != "AADSTS65004" || got.Status != domain.StatusProvisioned {
		t.Fatalf("tenant = %s, last consent %s %q", got.Status, got.LastConsentOutcome, got.LastConsentError)
	}
	if e.chk.calls != 0 {
		t.Errorf("a decline was checked %d times", e.chk.calls)
	}
}
