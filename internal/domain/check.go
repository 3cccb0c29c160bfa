package domain

import "time"

// What a definitive consent check means for a tenant: the one mapping from a
// check result to a status, shared by the scheduled re-validation (and an
// operator's on-demand check) and the consent callback. The callback differs
// only where Microsoft's redirect is itself evidence: it has just reported
// that the admin granted consent.

// CheckVerdict is what a check means for a tenant, before anything is applied.
type CheckVerdict struct {
	// To is the status the check puts the tenant in; "" keeps the current
	// one. It is never a status the lifecycle forbids from the current one.
	To Status
	// Pending: the check does not show a grant Microsoft reported (yet).
	// That is replication lag until the re-checks run out; nothing is
	// applied and the caller's re-check schedule decides.
	Pending bool
	// NotGranted (callback only): Microsoft reported consent, but our app
	// has no service principal in the tenant (AADSTS 700016 or 7000229,
	// see AppNotInTenant, or none found): consent did not arrive and
	// nothing is recorded.
	NotGranted bool
}

// CheckApplied is what ApplyCheck (or ApplyConsentCallback) did.
type CheckApplied struct {
	CheckVerdict
	From    Status
	Changed bool // the status changed (From → To)
}

// Verdict maps check c of t. callback: c verifies a consent Microsoft has
// just reported. A Suspended or Offboarded tenant gets no status from a
// check: only an operator's resume (or offboarding) moves it.
func (t *Tenant) Verdict(c ConsentCheck, callback bool) CheckVerdict {
	if !t.ConsentLinkUsable() {
		return CheckVerdict{}
	}
	if callback {
		switch {
		case c.Outcome == CheckConsented:
			// Roles the token cannot show are no reason to doubt a grant
			// Microsoft has just reported.
			return CheckVerdict{To: StatusConsented}
		case c.Outcome == CheckRevoked || AppNotInTenant(c.AADSTS):
			return CheckVerdict{NotGranted: true}
		case c.Outcome == CheckDegraded && !c.NotVisibleYet():
			return CheckVerdict{To: StatusDegraded} // a disabled service principal
		}
		return CheckVerdict{Pending: true}
	}
	if t.VerificationPending && c.NotVisibleYet() {
		return CheckVerdict{Pending: true}
	}
	var to Status
	switch c.Outcome {
	case CheckConsented:
		// Roles unreadable: no evidence the missing ones were granted.
		if !(c.RolesUnknown && t.Status == StatusDegraded && len(t.MissingRoles) > 0) {
			to = StatusConsented
		}
	case CheckDegraded:
		to = StatusDegraded
	case CheckRevoked:
		// A Provisioned tenant never consented: nothing was revoked.
		if t.Status != StatusProvisioned {
			to = StatusRevoked
		}
	case CheckTenantGone:
		// Confirmed twice: only a second check in a row makes it definitive.
		if t.Status != StatusProvisioned && t.LastCheckOutcome == string(CheckTenantGone) {
			to = StatusRevoked
		}
	}
	if to != "" && to != t.Status && !CanTransition(t.Status, to) {
		to = ""
	}
	return CheckVerdict{To: to}
}

// ApplyCheck applies a scheduled or on-demand check: the status its verdict
// means (a first consent stamps ConsentedAt), then the check itself
// (RecordCheck; the caller sets LastCheckRunID). A pending verdict changes
// nothing. A Suspended tenant leaves only through resume: applying a check
// to it (or to an Offboarded one) is a conflict.
func (t *Tenant) ApplyCheck(c ConsentCheck, now time.Time) (CheckApplied, error) {
	return t.applyCheck(c, now, false)
}

// ApplyConsentCallback applies the check that verified a consent Microsoft
// has just reported: a Consented verdict is recorded as "admin consent
// verified" and restamps ConsentedAt. Pending and NotGranted verdicts change
// nothing (the callback records the pending verification itself).
func (t *Tenant) ApplyConsentCallback(c ConsentCheck, now time.Time) (CheckApplied, error) {
	return t.applyCheck(c, now, true)
}

func (t *Tenant) applyCheck(c ConsentCheck, now time.Time, callback bool) (CheckApplied, error) {
	out := CheckApplied{From: t.Status}
	if !t.ConsentLinkUsable() {
		_, err := t.SetStatus(StatusConsented, "", now) // the lifecycle's own refusal
		if err == nil {
			err = Errorf(CodeConflict, "tenant %s is %s; a consent check cannot change it", t.TenantID, t.Status)
		}
		return out, err
	}
	out.CheckVerdict = t.Verdict(c, callback)
	if out.Pending || out.NotGranted {
		return out, nil
	}
	if out.To != "" {
		reason := c.Detail
		if callback && out.To == StatusConsented {
			reason = "admin consent verified"
		}
		changed, err := t.SetStatus(out.To, reason, now)
		if err != nil {
			return out, err
		}
		out.Changed = changed
		if out.To == StatusConsented && (callback || (changed && t.ConsentedAt.IsZero())) {
			t.ConsentedAt = now
		}
	}
	t.RecordCheck(c, "", now)
	return out, nil
}
