package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

var (
	keyPattern  = regexp.MustCompile(`^[1-9][0-9]{8}@eu\.teams\.videosrv\.net$`)
	linkPattern = regexp.MustCompile(`http://127\.0\.0\.1:\d+/api/adminconsent\?t=[A-Za-z0-9_-]{43}`)
)

// The contract example (admin IP 127.0.0.1) posted to the host's admin
// endpoint: within 2 seconds a Provisioned tenant, a key of the region's
// format and a consent-link email whose link works from 127.0.0.1.
func TestProvisionExampleThroughTheLocalHost(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	before := lastSeq(s.sb)
	start := time.Now()
	s.runFunction("ProvisionTenant", testkit.JSON(t, example(t, id, "CRM-"+id[:8])))

	var link string
	testkit.Eventually(t, 2*time.Second, "the consent-link email", func() bool {
		for _, m := range s.mailsTo(adminEmail(id), before) {
			if l := linkPattern.FindString(m.HTMLBody); l != "" && strings.Contains(m.Subject, "approve") {
				link = l
				return true
			}
		}
		return false
	})
	t.Logf("consent-link email after %s", time.Since(start))
	tn := s.tenant(id)
	if tn.Status != domain.StatusProvisioned || !keyPattern.MatchString(tn.TenantKey) {
		t.Fatalf("tenant = %s key %q", tn.Status, tn.TenantKey)
	}
	if want := s.cfg.PublicBaseURL.String() + "/api/join/" + tn.TenantKeyCode + "?conf={ConfId}"; tn.InstructionURI != want {
		t.Errorf("instruction URI = %q, want %q", tn.InstructionURI, want)
	}
	owner, err := s.app.Store.TenantKeyOwner(context.Background(), tn.TenantKeyCode)
	if err != nil || owner != id {
		t.Errorf("key reservation owner = %q, %v", owner, err)
	}
	// The link works from 127.0.0.1: it redirects to the (sandbox) Microsoft consent page.
	resp, err := s.client.Get(strings.Replace(link, "127.0.0.1:"+portOf(link), hostPort(s.host.URL()), 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.sb.ConsentHost()+id+"/v2.0/adminconsent?") {
		t.Fatalf("consent link: %d Location %q", resp.StatusCode, loc)
	}
	// The reminder is scheduled, not sent.
	st := s.host.QueueStats(queue.Email)
	if st.Scheduled != 1 {
		t.Errorf("scheduled email jobs = %d, want the one reminder", st.Scheduled)
	}
	events := s.audit(id)
	if len(events) == 0 || events[len(events)-1].Action != "tenant.provisioned" {
		t.Errorf("audit = %+v", events)
	}
}

func portOf(u string) string {
	m := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(u)
	return m[1]
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

// The same message delivered five times at once has the effect of once.
func TestSameRequestFiveTimesConcurrently(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	before := lastSeq(s.sb)
	body := testkit.JSON(t, example(t, id, "CRM-dup-"+id[:8]))
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: fmt.Sprintf("delivery-%d-%s", i, id), Body: body}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s.waitIdle()
	tn := s.tenant(id)
	rec, err := s.app.Store.GetProvisioningRecord(context.Background(), "CRM-dup-"+id[:8])
	if err != nil || rec.KeyCode != tn.TenantKeyCode || rec.CompletedAt.IsZero() {
		t.Fatalf("provisioning record %+v, %v (tenant key %s)", rec, err, tn.TenantKeyCode)
	}
	page, err := s.app.Store.ListTenants(context.Background(), domain.TenantFilter{}, 100, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("tenants = %d, %v", len(page.Items), err)
	}
	mails := s.mailsTo(adminEmail(id), before)
	if len(mails) != 1 {
		t.Fatalf("consent-link emails = %d, want 1", len(mails))
	}
	if st := s.host.QueueStats(queue.Email); st.Scheduled != 1 {
		t.Errorf("scheduled reminders = %d, want 1", st.Scheduled)
	}
}

// malformedVariants are 50 bodies that can never succeed.
func malformedVariants(t *testing.T, id string) map[string]string {
	t.Helper()
	base := func() map[string]any { return example(t, id, "CRM-bad-"+id[:8]) }
	with := func(key string, v any) string {
		m := base()
		m[key] = v
		return testkit.JSON(t, m)
	}
	without := func(key string) string {
		m := base()
		delete(m, key)
		return testkit.JSON(t, m)
	}
	v := map[string]string{}
	for i, g := range []string{"not-a-guid", "3f2b8c1e-6d4a-4b7e-9a51", "3f2b8c1e6d4a4b7e9a512c0d7e8f9a10", "{3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10}", "zzzzzzzz-6d4a-4b7e-9a51-2c0d7e8f9a10", ""} {
		v[fmt.Sprintf("wrong guid %d", i)] = with("tenantId", g)
	}
	v["all-zero guid"] = with("tenantId", "00000000-0000-0000-0000-000000000000")
	v["guid as number"] = with("tenantId", 42)
	for i, ip := range []string{"198.51.100.16/33", "198.51.100.17/28", "300.1.2.3", "1.2.3.4/8", "2001:db8::/16", "fe80::1%eth0", "abc", "", "1.2.3.4/", "::/0"} {
		v[fmt.Sprintf("bad cidr %d", i)] = with("adminIps", []any{ip})
	}
	v["no admin ips"] = with("adminIps", []any{})
	v["21 admin ips"] = with("adminIps", func() []any {
		var l []any
		for i := range 21 {
			l = append(l, fmt.Sprintf("203.0.113.%d", i+1))
		}
		return l
	}())
	for i, r := range []string{"mars", "EU", "e u", "", "a-very-long-region-code-that-is-too-long"} {
		v[fmt.Sprintf("unknown region %d", i)] = with("region", r)
	}
	v["missing admin contact"] = with("contacts", []any{map[string]any{"email": "desk@contoso.com", "role": "technical"}})
	v["no contacts"] = with("contacts", []any{})
	v["contact without email"] = with("contacts", []any{map[string]any{"role": "admin"}})
	v["contact bad email"] = with("contacts", []any{map[string]any{"email": "admin at contoso", "role": "admin"}})
	v["contact bad role"] = with("contacts", []any{map[string]any{"email": "a@contoso.com", "role": "owner"}})
	v["contact unknown field"] = with("contacts", []any{map[string]any{"email": "a@contoso.com", "role": "admin", "phone": "1"}})
	v["unknown field"] = with("colour", "blue")
	v["unknown field 2"] = with("tenantID", id)
	v["2 MB body"] = with("customerName", strings.Repeat("x", 2<<20))
	v["invalid utf-8"] = strings.Replace(testkit.JSON(t, base()), "Contoso Ltd", "Contoso \xff\xfe Ltd", 1)
	v["wrong schemaVersion"] = with("schemaVersion", 2)
	v["schemaVersion string"] = with("schemaVersion", "1")
	v["missing schemaVersion"] = without("schemaVersion")
	v["missing requestId"] = without("requestId")
	v["bad requestId"] = with("requestId", "CRM 2026/123")
	v["missing tenantId"] = without("tenantId")
	v["missing customerName"] = without("customerName")
	v["empty customerName"] = with("customerName", "")
	v["customerName with newline"] = with("customerName", "Contoso\nLtd")
	v["bad primaryDomain"] = with("primaryDomain", "not a domain")
	v["missing region"] = without("region")
	v["customerName too long"] = with("customerName", strings.Repeat("n", 201))
	v["contacts not array"] = with("contacts", "admin@contoso.com")
	v["not json"] = "this is not json"
	v["json array"] = "[1,2,3]"
	v["empty body"] = ""
	return v
}

// Malformed messages are completed with a recorded rejection naming the
// field: never retried, never creating state.
func TestMalformedRequestsAreRejectedNotRetried(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	variants := malformedVariants(t, id)
	if len(variants) < 50 {
		t.Fatalf("only %d variants", len(variants))
	}
	for name, body := range variants {
		if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "bad-" + strings.ReplaceAll(name, " ", "-"), Body: body}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	s.waitIdle()
	st := s.host.QueueStats(queue.Provisioning)
	if st.Deliveries != len(variants) || st.DeadLettered != 0 {
		t.Errorf("deliveries = %d dead-lettered = %d; want %d and 0 (no retries)", st.Deliveries, st.DeadLettered, len(variants))
	}
	var rejections []domain.Rejection
	cont := ""
	for {
		page, err := s.app.Store.ListRejections(context.Background(), 100, cont)
		if err != nil {
			t.Fatal(err)
		}
		rejections = append(rejections, page.Items...)
		if cont = page.Next; cont == "" {
			break
		}
	}
	if len(rejections) != len(variants) {
		t.Fatalf("rejections = %d, want %d", len(rejections), len(variants))
	}
	byMessage := map[string]domain.Rejection{}
	for _, r := range rejections {
		byMessage[r.MessageID] = r
	}
	for name := range variants {
		r, ok := byMessage["bad-"+strings.ReplaceAll(name, " ", "-")]
		if !ok {
			t.Errorf("%s: no rejection recorded", name)
			continue
		}
		if r.Field == "" || !strings.Contains(r.Reason, r.Field) {
			t.Errorf("%s: rejection does not name the field: field=%q reason=%q", name, r.Field, r.Reason)
		}
	}
	page, err := s.app.Store.ListTenants(context.Background(), domain.TenantFilter{}, 10, "")
	if err != nil || len(page.Items) != 0 {
		t.Errorf("tenants created: %d, %v", len(page.Items), err)
	}
}

// A request for an existing tenant with a new requestId updates contacts
// and IPs, is audited and keeps the key.
func TestSecondRequestUpdatesWithoutNewKey(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.runFunction("ProvisionTenant", testkit.JSON(t, example(t, id, "CRM-a-"+id[:8])))
	s.waitIdle()
	first := s.tenant(id)
	second := example(t, id, "CRM-b-"+id[:8], "127.0.0.1", "203.0.113.0/24")
	second["customerName"] = "Contoso Group"
	s.runFunction("ProvisionTenant", testkit.JSON(t, second))
	s.waitIdle()
	after := s.tenant(id)
	if after.TenantKey != first.TenantKey || after.CustomerName != "Contoso Group" || len(after.AllowedIPs) != 2 {
		t.Fatalf("after update: key %s→%s name %q ips %v", first.TenantKey, after.TenantKey, after.CustomerName, after.AllowedIPs)
	}
	found := false
	for _, e := range s.audit(id) {
		found = found || (e.Action == "tenant.updated" && strings.Contains(e.Actor, "CRM-b-"))
	}
	if !found {
		t.Error("no tenant.updated audit event")
	}
	ids, err := s.app.Store.TenantsAllowingIP(context.Background(), mustAddr("203.0.113.9"))
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("IP index after update = %v, %v", ids, err)
	}
}
