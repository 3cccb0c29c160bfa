package tablestore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Free text is cut to Azure's limits on character boundaries, with a note.
func TestTextFitsAzureLimits(t *testing.T) {
	t.Parallel()
	textOf := func(e *entity, name string) string {
		t.Helper()
		if _, err := e.marshal(); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		for _, p := range e.props {
			if p.name == name {
				return p.value.(string)
			}
		}
		t.Fatalf("no property %s", name)
		return ""
	}
	// 'é' is one UTF-16 unit, 2 UTF-8 bytes: a byte-based cut would split it.
	long := strings.Repeat("é", 40000)
	got := textOf(newEntity("t", "pk", "").text("Reason", long), "Reason")
	if !utf8.ValidString(got) || utf16Bytes(got) > maxStringBytes || !strings.HasPrefix(got, "éé") || !strings.Contains(got, "more characters]") {
		t.Fatalf("cut text: valid=%v utf16=%d suffix=%q", utf8.ValidString(got), utf16Bytes(got), got[len(got)-40:])
	}
	// Surrogate pairs are never split either.
	got = textOf(newEntity("t", "pk", "").text("Reason", strings.Repeat("😀", 20000)), "Reason")
	if utf16Bytes(got) > maxStringBytes || !utf8.ValidString(got) {
		t.Fatalf("emoji cut: %d bytes", utf16Bytes(got))
	}
	// Text that fits is stored as it is; invalid UTF-8 is replaced.
	if got := textOf(newEntity("t", "pk", "").text("Reason", "ok"), "Reason"); got != "ok" {
		t.Fatalf("short text changed: %q", got)
	}
	if got := textOf(newEntity("t", "pk", "").text("Body", "ab\xe2\x82"), "Body"); got != "ab\uFFFD" {
		t.Fatalf("invalid UTF-8 stored as %q", got)
	}
	// Twenty 64 KiB texts exceed 1 MiB together: the entity is cut to fit
	// and short fields survive intact.
	e := newEntity("t", "pk", "rk").str("ID", "keep-me").text("Short", "short reason")
	for i := range 20 {
		e.text(fmt.Sprintf("T%02d", i), strings.Repeat("x", 40000))
	}
	if _, err := e.marshal(); err != nil {
		t.Fatalf("large entity not fitted: %v", err)
	}
	if e.size() > maxEntityBytes {
		t.Fatalf("entity is %d bytes", e.size())
	}
	if got := textOf(e, "Short"); got != "short reason" {
		t.Fatalf("short text cut: %q", got)
	}
	// Strict strings are still refused, not cut.
	_, err := newEntity("t", "pk", "").str("S", strings.Repeat("a", 32769)).marshal()
	wantCode(t, err, domain.CodeInvalid)
}

// A rejection too large for Azure, with a body prefix cut mid-character, is
// still stored; the same rejection ID added again (a redelivery, later
// time) is recorded once.
func TestRejectionStoredOnceAndFitted(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	reason := strings.Repeat("field x is not a field of provisioning v1; ", 3000) // ~130 KB
	body := strings.Repeat("a", 1023) + "é"                                       // byte 1024 is inside 'é'
	rj := domain.Rejection{ID: "msg/1", At: at, Source: "queue:email", MessageID: "msg/1", Field: "x", Reason: reason, BodyPrefix: body[:1024]}
	must(t, s.AddRejection(ctx, rj))
	rj.At = at.Add(time.Minute)
	must(t, s.AddRejection(ctx, rj))
	must(t, s.AddRejection(ctx, domain.Rejection{ID: "msg/2", At: at, Reason: "other"}))
	page, err := s.ListRejections(ctx, 10, "")
	must(t, err)
	if len(page.Items) != 2 {
		t.Fatalf("listed %d rejections; want 2 (msg/1 once, msg/2)", len(page.Items))
	}
	var got domain.Rejection
	for _, r := range page.Items {
		if r.ID == "msg/1" {
			got = r
		}
	}
	if !got.At.Equal(at) || !strings.HasPrefix(got.Reason, "field x is not") || utf16Bytes(got.Reason) > maxStringBytes || !strings.Contains(got.Reason, "[cut:") {
		t.Fatalf("stored rejection: at %s, reason %d bytes", got.At, len(got.Reason))
	}
	if got.BodyPrefix != strings.Repeat("a", 1023)+"\uFFFD" {
		t.Fatalf("body prefix %q", got.BodyPrefix[1000:])
	}
}

// A claim whose first try landed although the SDK saw a timeout (and
// retried) is recognised as the caller's own; another owner's is not.
func TestMailClaimGhostWrite(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := &domain.MailRecord{Key: "consent-link:x:1", Status: "sending", Owner: "msg-1", Kind: domain.EmailConsentLink, LeaseEnds: now.Add(time.Minute), UpdatedAt: now}
	landed := *first
	must(t, s.ClaimMail(ctx, &landed)) // the try that timed out but was applied
	retry := *first
	must(t, s.ClaimMail(ctx, &retry)) // the SDK's retry of the same call
	if retry.ETag != landed.ETag || retry.Owner != "msg-1" {
		t.Fatalf("retry got %+v; want the landed claim %+v", retry, landed)
	}
	other := *first
	other.Owner = "msg-2"
	wantCode(t, s.ClaimMail(ctx, &other), domain.CodeConflict)
	if other.Owner != "msg-1" {
		t.Fatalf("conflict did not return the holder: %+v", other)
	}

	// The same for an update: applied, then retried with the old ETag.
	upd := retry
	upd.Status, upd.UpdatedAt, upd.LeaseEnds = "submitting", now.Add(time.Second), now.Add(2*time.Minute)
	landedUpd := upd
	must(t, s.UpdateMail(ctx, &landedUpd))
	must(t, s.UpdateMail(ctx, &upd))
	if upd.ETag != landedUpd.ETag {
		t.Fatal("a retried update that landed was not recognised")
	}
	// A different write with a stale ETag still fails.
	stale := retry
	stale.Status = "sent"
	wantCode(t, s.UpdateMail(ctx, &stale), domain.CodePreconditionFailed)
}

// The same owner re-enters its own live IP-index lease (a retry after a
// crash or a late-applied lease write); other owners wait for it.
func TestAllowedIPsSameOwnerReentersLease(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	id := tenantID(7)
	must(t, s.SetAllowedIPsAs(ctx, id, "CRM-1", pfx("203.0.113.0/24")))
	// CRM-2 crashed after widening the manifest and taking the lease.
	m, err := s.readManifest(ctx, id)
	must(t, err)
	_, err = s.writeManifest(ctx, id, pfx("198.51.100.0/24", "203.0.113.0/24"), s.now().Add(ipLease), "CRM-2", m.etag)
	must(t, err)
	must(t, s.upsertIPRows(ctx, id, pfx("198.51.100.0/24")))

	wantCode(t, s.SetAllowedIPsAs(ctx, id, "CRM-3", pfx("192.0.2.0/24")), domain.CodeUnavailable)
	wantCode(t, s.SetAllowedIPs(ctx, id, pfx("192.0.2.0/24")), domain.CodeUnavailable)
	// CRM-2's retry goes straight in and finishes its own work.
	must(t, s.SetAllowedIPsAs(ctx, id, "CRM-2", pfx("198.51.100.0/24")))
	wantAllowing(t, s, "198.51.100.9", id)
	wantAllowing(t, s, "203.0.113.9")
	m, err = s.readManifest(ctx, id)
	must(t, err)
	if !m.leaseUntil.IsZero() || m.leaseOwner != "" {
		t.Fatalf("lease not released: %+v", m)
	}
	// Lease free again: anyone may update.
	must(t, s.SetAllowedIPsAs(ctx, id, "CRM-3", pfx("192.0.2.0/24")))
	wantAllowing(t, s, "192.0.2.9", id)
}

// Crafted continuation tokens are refused before they reach the service.
func TestCraftedContinuationTokensAreInvalid(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	for i := range 3 {
		must(t, s.AppendAudit(ctx, domain.AuditEvent{TenantID: tenantID(1), ID: fmt.Sprint(i), Action: "x", At: time.Date(2025, 1, 1, 0, i, 0, 0, time.UTC)}))
	}
	page, err := s.ListAudit(ctx, tenantID(1), 1, "")
	must(t, err)
	if page.Next == "" {
		t.Fatal("no continuation to resume from")
	}
	_, err = s.ListAudit(ctx, tenantID(1), 1, page.Next)
	must(t, err) // a real token works
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, tok := range map[string]string{
		"quote":       encodeToken(tokenAudit, tenantID(1), "pk'", "rk"),
		"newline tab": encodeToken(tokenAudit, tenantID(1), "pk\tx", "rk"),
		"non-ASCII":   encodeToken(tokenAudit, tenantID(1), "1!8!é", "rk"),
		"control":     encodeToken(tokenAudit, tenantID(1), "pk", "r\x00k"),
		"hash":        encodeToken(tokenAudit, tenantID(1), "pk#", "rk"),
		"too long":    encodeToken(tokenAudit, tenantID(1), strings.Repeat("A", 2000), "rk"),
		"other scope": encodeToken(tokenAudit, tenantID(2), "pk", "rk"),
		"parts":       raw(tokenAudit + "\n" + tenantID(1)),
		"not base64":  "***",
	} {
		_, err := s.ListAudit(ctx, tenantID(1), 1, tok)
		if domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != "continuation" {
			t.Errorf("%s: %v; want an invalid continuation", name, err)
		}
	}
	_, err = s.ListTenants(ctx, domain.TenantFilter{}, 1, encodeToken(tokenTenants, "x' or 'a' eq 'a"))
	wantCode(t, err, domain.CodeInvalid)
}
