package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onemeeting/cvi-onboarding/internal/dev/browser"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

var statusLinkPattern = regexp.MustCompile(`http://127\.0\.0\.1:\d+/api/status/[A-Za-z0-9_-]{43}`)

// statusLinkIn returns the status link of the newest mail to addr since seq
// whose subject contains subject.
func (s *stack) statusLinkIn(addr string, since int, subject string) string {
	s.t.Helper()
	var link string
	testkit.Eventually(s.t, 10*time.Second, "email "+subject+" with a status link", func() bool {
		for _, m := range s.mailsTo(addr, since) {
			if strings.Contains(m.Subject, subject) {
				h, txt := statusLinkPattern.FindString(m.HTMLBody), statusLinkPattern.FindString(m.TextBody)
				if h != "" && txt != "" {
					link = h
					return true
				}
			}
		}
		return false
	})
	return link
}

func (s *stack) mailCount(addr string, since int, subject string) int {
	n := 0
	for _, m := range s.mailsTo(addr, since) {
		if strings.Contains(m.Subject, subject) {
			n++
		}
	}
	return n
}

func (s *stack) post(rawURL string, headers map[string]string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(""))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *stack) setStatus(id string, to domain.Status) {
	s.t.Helper()
	if _, err := domain.UpdateTenant(context.Background(), s.app.Store, id, func(t *domain.Tenant) (bool, error) {
		_, err := t.SetStatus(to, "test", s.clock.Now().UTC())
		return true, err
	}); err != nil {
		s.t.Fatal(err)
	}
}

// Provision → the consent email links to the status page; consent in the
// browser → the page shows every step with its time; the join page with a
// Video ID → live, one "you're live" email; rotation kills the old link;
// offboarded → "no longer active"; a wrong token → 404.
func TestStatusPageThroughTheHost(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	admin := adminEmail(id)
	before := lastSeq(s.sb)
	link := s.provisioned(id)
	statusURL := s.statusLinkIn(admin, before, "Action needed: approve")

	resp, body := s.get(statusURL, nil)
	tn := s.tenant(id)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, tn.TenantKey) || !strings.Contains(body, "Provisioned") ||
		strings.Contains(body, "Download the PowerShell script") {
		t.Fatalf("status page before consent: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") || resp.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Errorf("status page headers: Cache-Control %q CSP %q", cc, resp.Header.Get("Content-Security-Policy"))
	}

	// Consent in the browser: the confirmation page links to the status page.
	afterProvision := lastSeq(s.sb)
	ctx := browser.New(t, 120*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("accept")),
		chromedp.Click(chromedp.ID("accept")), chromedp.WaitVisible(chromedp.ID("powershell"))); err != nil {
		t.Fatal(err)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('status-page') || {}).href || ''`))
	if err != nil || !statusLinkPattern.MatchString(href) {
		t.Fatalf("confirmation page status link = %q (%v)", href, err)
	}
	confirmedURL := s.statusLinkIn(admin, afterProvision, "Approved:")

	tn = s.tenant(id)
	if err := chromedp.Do(ctx, chromedp.Navigate(confirmedURL), chromedp.WaitVisible(chromedp.ID("step-live"))); err != nil {
		t.Fatal(err)
	}
	browser.Screenshot(t, ctx, "status-consented")
	page := strings.Join(strings.Fields(browser.BodyText(t, ctx)), " ")
	for _, want := range []string{tn.TenantKey, "Europe", "Provisioned " + web.FormatPageTime(tn.CreatedAt), "videosrv.net",
		"Consent granted " + web.FormatPageTime(tn.ConsentedAt), "Last checked " + web.FormatPageTime(tn.LastCheckAt),
		"Calls.AccessMedia.All: granted", "Download the PowerShell script", "Set-ExecutionPolicy -Scope Process", "Live (not yet)"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page after consent lacks %q:\n%s", want, page)
		}
	}
	// Every link of the current generation works: the first email's too.
	if resp, _ := s.get(statusURL, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the consent email's status link: %d", resp.StatusCode)
	}

	// The join page with a real Video ID makes the tenant live.
	beforeLive := lastSeq(s.sb)
	for range 5 {
		if resp, _ := s.get(s.host.URL()+"/api/join/"+tn.TenantKeyCode+"?conf=123456789", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("join page: %d", resp.StatusCode)
		}
	}
	testkit.Eventually(t, 10*time.Second, "liveSince recorded", func() bool { return !s.tenant(id).LiveSince.IsZero() })
	tn = s.tenant(id)
	liveURL := s.statusLinkIn(admin, beforeLive, "You're live")
	if _, body := s.get(liveURL, nil); !strings.Contains(body, "Live since") || !strings.Contains(body, web.FormatPageTime(tn.LiveSince)) {
		t.Errorf("status page does not say live:\n%s", body)
	}
	s.waitIdle()
	if n := s.mailCount(admin, beforeLive, "You're live"); n != 1 {
		t.Errorf("%d \"you're live\" emails, want 1", n)
	}
	lives := 0
	for _, e := range s.audit(id) {
		if e.Action == "tenant.live" {
			lives++
		}
	}
	if lives != 1 {
		t.Errorf("%d tenant.live audit events, want 1", lives)
	}

	// An operator rotates the link: every older one dies.
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "11111111-aaaa-4bbb-8ccc-222222222222", Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.host.URL()+"/api/admin/tenants/"+id+"/status-link", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rresp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rotated struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(rresp.Body).Decode(&rotated)
	rresp.Body.Close()
	if err != nil || rresp.StatusCode != http.StatusOK || !statusLinkPattern.MatchString(rotated.URL) {
		t.Fatalf("rotate: %d %v %q", rresp.StatusCode, err, rotated.URL)
	}
	for _, old := range []string{statusURL, confirmedURL, liveURL} {
		if resp, _ := s.get(old, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("old link after rotation: %d", resp.StatusCode)
		}
	}
	if resp, _ := s.get(rotated.URL, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("rotated link: %d", resp.StatusCode)
	}
	rotations := 0
	for _, e := range s.audit(id) {
		if e.Action == "status.link-rotated" && e.Actor == "operator:11111111-aaaa-4bbb-8ccc-222222222222" {
			rotations++
		}
	}
	if rotations != 1 {
		t.Errorf("%d audited rotations, want 1", rotations)
	}

	// Wrong tokens: 404, whatever their shape.
	for _, wrong := range []string{strings.Repeat("A", 43), "x", strings.Repeat("z", 300)} {
		if resp, body := s.get(s.host.URL()+"/api/status/"+wrong, nil); resp.StatusCode != http.StatusNotFound || strings.Contains(body, tn.TenantKey) {
			t.Errorf("wrong token %.10s…: %d", wrong, resp.StatusCode)
		}
	}

	// Offboarded: a clear "no longer active" page, nothing else.
	s.setStatus(id, domain.StatusOffboarded)
	resp, body = s.get(rotated.URL, nil)
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "no longer active") || strings.Contains(body, tn.TenantKey) ||
		!strings.Contains(body, "Remove-CsVideoInteropServiceProvider") || !strings.Contains(body, "Enterprise applications") {
		t.Errorf("offboarded status page: %d %s", resp.StatusCode, body)
	}
}

// "Grant consent again" on a Degraded tenant's page: same-origin only, one
// email per 15 minutes, audited.
func TestStatusPageConsentAgain(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	admin := adminEmail(id)
	before := lastSeq(s.sb)
	link := s.provisioned(id)
	statusURL := s.statusLinkIn(admin, before, "Action needed: approve")
	// The declined page links to the status page too.
	state := s.startConsent(link)
	if _, body := s.callback(url.Values{"tenant": {id}, "state": {state}, "error": {"access_denied"}}); !strings.Contains(body, `id="status-page"`) ||
		!statusLinkPattern.MatchString(body) {
		t.Errorf("declined page has no status link:\n%s", body)
	}
	s.setStatus(id, domain.StatusDegraded)

	if _, body := s.get(statusURL, nil); !strings.Contains(body, `id="consent-again"`) || !strings.Contains(body, "missing permissions") {
		t.Fatalf("degraded status page has no consent-again button:\n%s", body)
	}
	if resp, _ := s.post(statusURL, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", resp.StatusCode)
	}
	if resp, _ := s.post(statusURL, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without Origin: %d", resp.StatusCode)
	}
	beforeAgain := lastSeq(s.sb)
	origin := map[string]string{"Origin": s.host.URL()}
	if resp, body := s.post(statusURL, origin); resp.StatusCode != http.StatusOK || !strings.Contains(body, "We have emailed a new consent link") {
		t.Fatalf("consent again: %d %s", resp.StatusCode, body)
	}
	testkit.Eventually(t, 10*time.Second, "fresh consent-link email", func() bool {
		for _, m := range s.mailsTo(admin, beforeAgain) {
			if linkPattern.MatchString(m.HTMLBody) {
				return true
			}
		}
		return false
	})
	if resp, body := s.post(statusURL, origin); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "you can ask again after") {
		t.Errorf("second request within 15 minutes: %d", resp.StatusCode)
	}
	s.clock.Advance(16 * time.Minute)
	if resp, _ := s.post(statusURL, origin); resp.StatusCode != http.StatusOK {
		t.Errorf("request after 16 minutes: %d", resp.StatusCode)
	}
	requested := 0
	for _, e := range s.audit(id) {
		if e.Action == "consent.link-requested" && e.SourceIP == "127.0.0.1" {
			requested++
		}
	}
	if requested != 2 {
		t.Errorf("%d audited consent-again requests, want 2", requested)
	}
}

// countingStore counts the tenant-record writes of live tracking.
type countingStore struct {
	domain.TenantStore
	updates atomic.Int64
}

func (c *countingStore) UpdateTenant(ctx context.Context, t *domain.Tenant) error {
	c.updates.Add(1)
	return c.TenantStore.UpdateTenant(ctx, t)
}

// 500 requests/s with Video IDs for one tenant make one live-tracking write
// per hour (per instance; this stack is one instance).
func TestJoinPageUnderLoadWritesOncePerHour(t *testing.T) {
	t.Parallel()
	counter := &countingStore{}
	s := newStack(t, stackOptions{wrapLiveStore: func(st domain.TenantStore) domain.TenantStore {
		counter.TenantStore = st
		return counter
	}})
	id := newTenantID()
	s.provisioned(id)
	tn := s.tenant(id)
	joinURL := s.host.URL() + "/api/join/" + tn.TenantKeyCode + "?conf=987654321"

	load := func(n int) {
		t.Helper()
		const perSecond = 500
		tick := time.NewTicker(time.Second / perSecond)
		defer tick.Stop()
		work := make(chan struct{})
		var failed atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		for range 16 {
			wg.Go(func() {
				for range work {
					resp, err := client.Get(joinURL)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			})
		}
		for range n {
			<-tick.C
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		if f := failed.Load(); f != 0 {
			t.Fatalf("%d of %d join requests failed", f, n)
		}
	}

	start := time.Now()
	load(1000)
	t.Logf("1000 join requests in %s", time.Since(start))
	testkit.Eventually(t, 10*time.Second, "liveSince recorded", func() bool { return !s.tenant(id).LiveSince.IsZero() })
	s.waitIdle()
	if n := counter.updates.Load(); n != 1 {
		t.Fatalf("%d live-tracking writes in the first hour, want 1", n)
	}
	first := s.tenant(id)

	// An hour later the next request refreshes lastInviteSeen, once.
	s.clock.Advance(61 * time.Minute)
	load(500)
	testkit.Eventually(t, 10*time.Second, "lastInviteSeen refreshed", func() bool { return s.tenant(id).LastInviteSeen.After(first.LastInviteSeen) })
	s.waitIdle()
	if n := counter.updates.Load(); n != 2 {
		t.Fatalf("%d live-tracking writes over two hours, want 2", n)
	}
	if got := s.tenant(id); !got.LiveSince.Equal(first.LiveSince) {
		t.Errorf("liveSince moved from %s to %s", first.LiveSince, got.LiveSince)
	}
}

// axeScript is axe-core's browser build: $AXE_CORE_JS, or the repository's
// node_modules (axe-core pinned in the root package.json).
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AXE_CORE_JS")
	if path == "" {
		path = filepath.Join(testkit.Root(t), "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core not found (add axe-core to the root package.json and run npm ci, or set AXE_CORE_JS): %v", err)
	}
	return string(b)
}

// The status page has no serious or critical axe-core violation at 1280 and
// 390 px, in its consented and its degraded state.
func TestStatusPageAccessibility(t *testing.T) {
	t.Parallel()
	axe := axeScript(t)
	s := newStack(t, stackOptions{})
	id := newTenantID()
	before := lastSeq(s.sb)
	s.provisioned(id)
	statusURL := s.statusLinkIn(adminEmail(id), before, "Action needed: approve")
	s.setStatus(id, domain.StatusDegraded)
	ctx := browser.New(t, 120*time.Second)
	for _, width := range []int64{1280, 390} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(statusURL), chromedp.WaitVisible(chromedp.ID("step-live"))); err != nil {
			t.Fatal(err)
		}
		browser.Screenshot(t, ctx, fmt.Sprintf("status-%d", width))
		type violation struct {
			ID     string `json:"id"`
			Impact string `json:"impact"`
			Help   string `json:"help"`
			Nodes  int    `json:"nodes"`
		}
		js := axe + `;(async () => { const r = await axe.run(document, {resultTypes: ['violations']});
			return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.length})); })()`
		violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]violation](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range violations {
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Errorf("%d px: axe %s (%s): %s on %d nodes", width, v.ID, v.Impact, v.Help, v.Nodes)
			}
		}
	}
	// The button works from a real browser (its Origin passes the check).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("consent-again")), chromedp.WaitVisible(chromedp.ID("step-live"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "consent-again notice", func() bool {
		return strings.Contains(browser.BodyText(t, ctx), "We have emailed a new consent link")
	})
}

// A tenant that consented but is not live after LIVE_REMINDER_AFTER gets
// one reminder with the PowerShell link, however many runs see it.
func TestLiveReminderOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	admin := adminEmail(id)
	state := s.startConsent(s.provisioned(id))
	s.sb.Consent(id, euAppID)
	if resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	s.waitIdle()
	before := lastSeq(s.sb)
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	if n := s.mailCount(admin, before, "One step left"); n != 0 {
		t.Fatalf("%d live reminders right after consent", n)
	}
	s.clock.Advance(8 * 24 * time.Hour)
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	if n := s.mailCount(admin, before, "One step left"); n != 1 {
		t.Fatalf("%d live reminders after two runs, want 1", n)
	}
	for _, m := range s.mailsTo(admin, before) {
		if strings.Contains(m.Subject, "One step left") && (!strings.Contains(m.TextBody, "/powershell?tenant="+id) || !statusLinkPattern.MatchString(m.TextBody)) {
			t.Errorf("live reminder lacks the script or status link:\n%s", m.TextBody)
		}
	}

	// liveSince recorded, then the process died before queueing "you're
	// live": the next runs queue it, and it goes out once.
	if _, err := domain.UpdateTenant(context.Background(), s.app.Store, id, func(tn *domain.Tenant) (bool, error) {
		tn.LiveSince, tn.LastInviteSeen = s.clock.Now().UTC(), s.clock.Now().UTC()
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(2 * time.Hour)
	for range 2 {
		s.runFunction("RevalidateConsent", "")
		s.waitIdle()
	}
	if n := s.mailCount(admin, before, "You're live"); n != 1 {
		t.Errorf("%d \"you're live\" emails caught up, want 1", n)
	}
}
