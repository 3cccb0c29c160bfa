package domain

import (
	"slices"
	"testing"
	"time"
)

// Every branch of the check → status mapping, for a scheduled check and for
// the consent callback, including what is written alongside the status.
func TestApplyCheck(t *testing.T) {
	earlier := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := earlier.Add(48 * time.Hour)
	consented := ConsentCheck{Outcome: CheckConsented, Roles: RequiredGraphRoles, SPEnabled: true, Detail: "all roles"}
	rolesUnknown := ConsentCheck{Outcome: CheckConsented, SPEnabled: true, RolesUnknown: true, Detail: "roles unreadable"}
	missing := ConsentCheck{Outcome: CheckDegraded, SPEnabled: true, Roles: RequiredGraphRoles[1:], MissingRoles: RequiredGraphRoles[:1], Detail: "missing User.Read.All"}
	disabled := ConsentCheck{Outcome: CheckDegraded, SPEnabled: false, Roles: RequiredGraphRoles, AADSTS: 7000112, Detail: "service principal disabled"}
	revoked := ConsentCheck{Outcome: CheckRevoked, Detail: "no service principal"}
	appNotFound := ConsentCheck{Outcome: CheckRevoked, AADSTS: AADSTSAppNotFound, Detail: "AADSTS700016"}
	noSP := ConsentCheck{Outcome: CheckRevoked, AADSTS: AADSTSMissingServicePrincipal, Detail: "AADSTS7000229"}
	gone := ConsentCheck{Outcome: CheckTenantGone, AADSTS: 90002, Detail: "tenant not found"}

	type tenant struct {
		status       Status
		missingRoles []string
		lastOutcome  CheckOutcome
		pending      bool
		consentedAt  time.Time
	}
	cases := []struct {
		name     string
		tenant   tenant
		check    ConsentCheck
		callback bool
		want     CheckVerdict
		changed  bool
		err      bool
		// written: RecordCheck ran (LastCheckOutcome is the check's).
		written       bool
		reason        string
		consentedAtIs time.Time
	}{
		// Scheduled and on-demand checks.
		{name: "first consent", tenant: tenant{status: StatusProvisioned}, check: consented,
			want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "all roles", consentedAtIs: now},
		{name: "recovery keeps the first consent time", tenant: tenant{status: StatusDegraded, consentedAt: earlier}, check: consented,
			want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "all roles", consentedAtIs: earlier},
		{name: "still consented", tenant: tenant{status: StatusConsented, consentedAt: earlier}, check: consented,
			want: CheckVerdict{To: StatusConsented}, written: true, consentedAtIs: earlier},
		{name: "roles unknown on a degraded tenant with missing roles stays degraded", tenant: tenant{status: StatusDegraded, missingRoles: []string{"User.Read.All"}},
			check: rolesUnknown, want: CheckVerdict{}, written: true},
		{name: "roles unknown on a degraded tenant without missing roles (disabled) recovers", tenant: tenant{status: StatusDegraded, consentedAt: earlier},
			check: rolesUnknown, want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "roles unreadable", consentedAtIs: earlier},
		{name: "roles unknown on a consented tenant", tenant: tenant{status: StatusConsented}, check: rolesUnknown,
			want: CheckVerdict{To: StatusConsented}, written: true},
		{name: "missing roles degrade", tenant: tenant{status: StatusConsented}, check: missing,
			want: CheckVerdict{To: StatusDegraded}, changed: true, written: true, reason: "missing User.Read.All"},
		{name: "disabled degrades a provisioned tenant", tenant: tenant{status: StatusProvisioned}, check: disabled,
			want: CheckVerdict{To: StatusDegraded}, changed: true, written: true, reason: "service principal disabled"},
		{name: "revoked", tenant: tenant{status: StatusConsented}, check: revoked,
			want: CheckVerdict{To: StatusRevoked}, changed: true, written: true, reason: "no service principal"},
		{name: "AADSTS700016 revokes", tenant: tenant{status: StatusDegraded}, check: appNotFound,
			want: CheckVerdict{To: StatusRevoked}, changed: true, written: true, reason: "AADSTS700016"},
		{name: "AADSTS7000229 revokes", tenant: tenant{status: StatusConsented}, check: noSP,
			want: CheckVerdict{To: StatusRevoked}, changed: true, written: true, reason: "AADSTS7000229"},
		{name: "a provisioned tenant was never consented: nothing revoked", tenant: tenant{status: StatusProvisioned}, check: appNotFound,
			want: CheckVerdict{}, written: true},
		{name: "tenant gone once is not definitive", tenant: tenant{status: StatusConsented}, check: gone,
			want: CheckVerdict{}, written: true},
		{name: "tenant gone twice revokes", tenant: tenant{status: StatusConsented, lastOutcome: CheckTenantGone}, check: gone,
			want: CheckVerdict{To: StatusRevoked}, changed: true, written: true, reason: "tenant not found"},
		{name: "tenant gone twice on a provisioned tenant", tenant: tenant{status: StatusProvisioned, lastOutcome: CheckTenantGone}, check: gone,
			want: CheckVerdict{}, written: true},
		{name: "pending verification, roles not visible yet", tenant: tenant{status: StatusProvisioned, pending: true}, check: missing,
			want: CheckVerdict{Pending: true}},
		{name: "pending verification, app not visible yet", tenant: tenant{status: StatusProvisioned, pending: true}, check: appNotFound,
			want: CheckVerdict{Pending: true}},
		{name: "pending verification, disabled is a finding", tenant: tenant{status: StatusProvisioned, pending: true}, check: disabled,
			want: CheckVerdict{To: StatusDegraded}, changed: true, written: true, reason: "service principal disabled"},
		{name: "pending verification confirmed", tenant: tenant{status: StatusProvisioned, pending: true}, check: consented,
			want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "all roles", consentedAtIs: now},
		{name: "suspended leaves only through resume", tenant: tenant{status: StatusSuspended}, check: consented, err: true},
		{name: "offboarded", tenant: tenant{status: StatusOffboarded}, check: revoked, err: true},

		// The consent callback: Microsoft has just reported consent.
		{name: "callback verified", tenant: tenant{status: StatusProvisioned}, check: consented, callback: true,
			want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "admin consent verified", consentedAtIs: now},
		{name: "callback re-consent restamps consentedAt", tenant: tenant{status: StatusRevoked, consentedAt: earlier}, check: consented, callback: true,
			want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "admin consent verified", consentedAtIs: now},
		{name: "callback on a consented tenant", tenant: tenant{status: StatusConsented, consentedAt: earlier}, check: consented, callback: true,
			want: CheckVerdict{To: StatusConsented}, written: true, consentedAtIs: now},
		{name: "callback trusts the report when roles are unreadable", tenant: tenant{status: StatusDegraded, missingRoles: []string{"User.Read.All"}},
			check: rolesUnknown, callback: true, want: CheckVerdict{To: StatusConsented}, changed: true, written: true, reason: "admin consent verified", consentedAtIs: now},
		{name: "callback disabled", tenant: tenant{status: StatusProvisioned}, check: disabled, callback: true,
			want: CheckVerdict{To: StatusDegraded}, changed: true, written: true, reason: "service principal disabled"},
		{name: "callback roles not visible yet", tenant: tenant{status: StatusProvisioned}, check: missing, callback: true,
			want: CheckVerdict{Pending: true}},
		{name: "callback tenant gone is pending", tenant: tenant{status: StatusConsented}, check: gone, callback: true,
			want: CheckVerdict{Pending: true}},
		{name: "callback app not in tenant", tenant: tenant{status: StatusConsented}, check: revoked, callback: true,
			want: CheckVerdict{NotGranted: true}},
		{name: "callback AADSTS700016", tenant: tenant{status: StatusProvisioned}, check: appNotFound, callback: true,
			want: CheckVerdict{NotGranted: true}},
		{name: "callback AADSTS7000229", tenant: tenant{status: StatusRevoked}, check: noSP, callback: true,
			want: CheckVerdict{NotGranted: true}},
		{name: "callback on a suspended tenant", tenant: tenant{status: StatusSuspended}, check: consented, callback: true, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := &Tenant{TenantID: "t1", Status: tc.tenant.status, StatusReason: "before", StatusChanged: earlier, MissingRoles: tc.tenant.missingRoles,
				LastCheckOutcome: string(tc.tenant.lastOutcome), VerificationPending: tc.tenant.pending, ConsentedAt: tc.tenant.consentedAt}
			if tc.tenant.pending {
				tn.VerificationPendingSince = earlier
			}
			before := *tn
			if !tc.err {
				if got := tn.Verdict(tc.check, tc.callback); got != tc.want {
					t.Fatalf("Verdict = %+v, want %+v", got, tc.want)
				}
			}
			apply := tn.ApplyCheck
			if tc.callback {
				apply = tn.ApplyConsentCallback
			}
			got, err := apply(tc.check, now)
			if tc.err {
				if ErrorCode(err) != CodeConflict || tn.Status != before.Status || !tn.LastCheckAt.IsZero() {
					t.Fatalf("apply to a %s tenant: err %v, status %s, lastCheckAt %v", before.Status, err, tn.Status, tn.LastCheckAt)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.CheckVerdict != tc.want || got.From != before.Status || got.Changed != tc.changed {
				t.Fatalf("applied = %+v, want %+v from %s changed %v", got, tc.want, before.Status, tc.changed)
			}
			wantStatus := before.Status
			if tc.changed {
				wantStatus = tc.want.To
			}
			if tn.Status != wantStatus {
				t.Errorf("status = %s, want %s", tn.Status, wantStatus)
			}
			if tc.changed != !tn.StatusChanged.Equal(earlier) {
				t.Errorf("statusChanged = %v (changed %v)", tn.StatusChanged, tc.changed)
			}
			wantReason := "before"
			if tc.changed {
				wantReason = tc.reason
			}
			if tn.StatusReason != wantReason {
				t.Errorf("reason = %q, want %q", tn.StatusReason, wantReason)
			}
			if !tn.ConsentedAt.Equal(tc.consentedAtIs) {
				t.Errorf("consentedAt = %v, want %v", tn.ConsentedAt, tc.consentedAtIs)
			}
			if tc.written {
				if tn.LastCheckOutcome != string(tc.check.Outcome) || !tn.LastCheckAt.Equal(now) {
					t.Errorf("check not recorded: outcome %q at %v", tn.LastCheckOutcome, tn.LastCheckAt)
				}
				if tc.check.Outcome != CheckRevoked && tn.VerificationPending {
					t.Error("a definitive check left the verification pending")
				}
			} else if tn.LastCheckOutcome != before.LastCheckOutcome || !tn.LastCheckAt.IsZero() || tn.VerificationPending != before.VerificationPending ||
				!slices.Equal(tn.MissingRoles, before.MissingRoles) {
				t.Errorf("a %+v verdict changed the tenant: %+v", got.CheckVerdict, tn)
			}
		})
	}
}
