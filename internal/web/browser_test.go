package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/onemeeting/cvi-onboarding/internal/dev/browser"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const browserTimeout = 90 * time.Second

// watcher records what a page must never do: open a dialog, violate the
// CSP, throw.
type watcher struct {
	mu      sync.Mutex
	dialogs []string
}

// watchBrowser dismisses and records every JavaScript dialog, and installs a
// recorder of CSP violations and errors into every document (scripts added
// over CDP are not subject to the page's CSP).
func watchBrowser(t *testing.T, ctx context.Context) *watcher {
	t.Helper()
	w := &watcher{}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.dialogs = append(w.dialogs, ev.Message)
			w.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	const recorder = `window.__csp = []; window.__errors = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', e => window.__errors.push(String(e.message)));`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorder}); err != nil {
		t.Fatalf("install recorder: %v", err)
	}
	return w
}

func (w *watcher) Dialogs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dialogs...)
}

// domReport is what the page looks like from inside the browser.
type domReport struct {
	InlineScripts  int      `json:"inlineScripts"`
	ForeignScripts []string `json:"foreignScripts"`
	Injected       []string `json:"injected"`
	OnAttributes   []string `json:"onAttributes"`
	CSPViolations  []string `json:"csp"`
	Errors         []string `json:"errors"`
	HeaderColor    string   `json:"headerColor"`
	H1             string   `json:"h1"`
	BadLinks       []string `json:"badLinks"`
	ScrollWidth    int      `json:"scrollWidth"`
	ClientWidth    int      `json:"clientWidth"`
	HiddenCopy     int      `json:"hiddenCopy"`
	CopyButtons    int      `json:"copyButtons"`
}

const domReportJS = `(() => {
  const onAttributes = [];
  for (const el of document.querySelectorAll('*'))
    for (const a of el.attributes)
      if (a.name.toLowerCase().startsWith('on')) onAttributes.push(el.tagName + ' ' + a.name);
  const copy = [...document.querySelectorAll('button[data-copy-target]')];
  return {
    inlineScripts: document.querySelectorAll('script:not([src])').length,
    foreignScripts: [...document.scripts].map(s => s.src).filter(s => !s.startsWith(location.origin + '/api/assets/')),
    injected: [...document.querySelectorAll('img, svg, iframe, object, embed, style, [style], base')].map(e => e.outerHTML),
    onAttributes,
    csp: window.__csp || ['recorder missing'],
    errors: window.__errors || ['recorder missing'],
    headerColor: getComputedStyle(document.querySelector('.site-header')).backgroundColor,
    h1: document.querySelector('h1') ? document.querySelector('h1').innerText : '',
    badLinks: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => !/^(https?:|mailto:|data:text\/plain;|sip:[0-9]+\.[0-9]+@)/.test(h)),
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    hiddenCopy: copy.filter(b => b.hidden || b.offsetParent === null).length,
    copyButtons: copy.length,
  };
})()`

func inspect(t *testing.T, ctx context.Context, where string) domReport {
	t.Helper()
	rep, err := chromedp.Run(ctx, chromedp.Evaluate[domReport](domReportJS))
	if err != nil {
		t.Fatalf("%s: inspect DOM: %v", where, err)
	}
	if rep.InlineScripts != 0 || len(rep.ForeignScripts) != 0 || len(rep.Injected) != 0 || len(rep.OnAttributes) != 0 {
		t.Errorf("%s: injected content: inline scripts %d, foreign %v, elements %v, handlers %v",
			where, rep.InlineScripts, rep.ForeignScripts, rep.Injected, rep.OnAttributes)
	}
	if len(rep.CSPViolations) != 0 || len(rep.Errors) != 0 {
		t.Errorf("%s: CSP violations %v, errors %v", where, rep.CSPViolations, rep.Errors)
	}
	if len(rep.BadLinks) != 0 {
		t.Errorf("%s: links with unexpected schemes: %v", where, rep.BadLinks)
	}
	// The stylesheet loaded (allowed by the CSP): the header has its colour.
	if rep.HeaderColor == "" || rep.HeaderColor == "rgba(0, 0, 0, 0)" {
		t.Errorf("%s: stylesheet not applied (header background %q)", where, rep.HeaderColor)
	}
	if rep.HiddenCopy != 0 {
		t.Errorf("%s: %d of %d copy buttons still hidden with JavaScript on", where, rep.HiddenCopy, rep.CopyButtons)
	}
	return rep
}

// TestPagesInBrowser loads every page, realistic and hostile, in Chromium:
// values show as text, nothing injected runs or exists, the CSP blocks
// nothing of ours, and nothing overflows a 320px screen.
func TestPagesInBrowser(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	cases := allPages()
	srv := newPageServer(t, r, cases)
	ctx := browser.New(t, browserTimeout)
	w := watchBrowser(t, ctx)

	for _, c := range cases {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.URL+"/page/"+c.name))
		if err != nil {
			t.Fatalf("%s: navigate: %v", c.name, err)
		}
		if int(resp.Status) != c.status {
			t.Errorf("%s: status %d, want %d", c.name, resp.Status, c.status)
		}
		if csp, _ := resp.Headers["Content-Security-Policy"].(string); csp != ContentSecurityPolicy {
			t.Errorf("%s: served CSP %q", c.name, csp)
		}
		rep := inspect(t, ctx, c.name)
		if rep.H1 != c.page.title() {
			t.Errorf("%s: h1 %q, want %q", c.name, rep.H1, c.page.title())
		}
		if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.HasPrefix(title, c.page.title()) || !strings.HasSuffix(title, "OneMeeting CVI") {
			t.Errorf("%s: document title %q (%v)", c.name, title, err)
		}
		text := browser.BodyText(t, ctx)
		containsAll(t, c.name, text, c.wantText)
		containsAll(t, c.name, text, []string{"OneMeeting CVI", "Need help? Email"})
		if _, isJoin := c.page.(JoinInstructionsPage); isJoin && strings.Contains(text, "Contoso") {
			t.Errorf("%s: join page shows tenant data beyond dialing facts", c.name)
		}
		browser.Screenshot(t, ctx, c.name)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(320, 720, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page/"+c.name)); err != nil {
			t.Fatalf("%s at 320px: %v", c.name, err)
		}
		rep := inspect(t, ctx, c.name+" at 320px")
		if rep.ClientWidth != 320 || rep.ScrollWidth > rep.ClientWidth {
			t.Errorf("%s at 320px: page is %dpx wide in a %dpx viewport", c.name, rep.ScrollWidth, rep.ClientWidth)
		}
		if !c.hostile {
			browser.Screenshot(t, ctx, c.name+"-320")
		}
	}
	if d := w.Dialogs(); len(d) != 0 {
		t.Errorf("JavaScript dialogs opened: %q", d)
	}
}

// TestCopyButtonsAndDownload clicks the Copy buttons and reads the real
// clipboard, then downloads the .ps1 and compares it with the script.
func TestCopyButtonsAndDownload(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	cases := allPages()
	srv := newPageServer(t, r, cases)
	ctx := browser.New(t, browserTimeout)
	w := watchBrowser(t, ctx)
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted, Origin: srv.URL,
		}); err != nil {
			t.Fatalf("grant %s: %v", perm, err)
		}
	}
	// Headless windows are never focused; the clipboard API needs focus.
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	granted := pageByName(t, cases, "granted").(ConsentGrantedPage)
	hostile := pageByName(t, cases, "hostile-granted").(ConsentGrantedPage)
	for _, tc := range []struct {
		name string
		page ConsentGrantedPage
	}{{"granted", granted}, {"hostile-granted", hostile}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page/"+tc.name)); err != nil {
			t.Fatal(err)
		}
		for i, target := range []struct{ id, label, want string }{
			{"powershell", "PowerShell script", tc.page.Script},
			{"tenant-key", "tenant key", tc.page.TenantKey},
			{"instruction-uri", "instruction URI", tc.page.InstructionURI},
			{"app-id", "application ID", tc.page.AppID},
		} {
			where := tc.name + "/" + target.id
			// Put something else on the clipboard so a stale value can't pass.
			sentinel := fmt.Sprintf("sentinel-%d", i)
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](
				fmt.Sprintf("navigator.clipboard.writeText(%q)", sentinel), chromedp.EvalAwaitPromise)); err != nil {
				t.Fatalf("%s: reset clipboard: %v", where, err)
			}
			button := chromedp.CSS(fmt.Sprintf(`button[data-copy-target=%q]`, target.id))
			if err := chromedp.Do(ctx, chromedp.Click(button)); err != nil {
				t.Fatalf("%s: click copy: %v", where, err)
			}
			announcement := "Copied " + target.label + " to the clipboard."
			testkit.Eventually(t, 5*time.Second, where+" status announcement", func() bool {
				s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('copy-status').textContent`))
				return err == nil && s == announcement
			})
			label, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(`button[data-copy-target=%q] .copy-label`, target.id))))
			if err != nil || label != "Copied" {
				t.Errorf("%s: button label %q (%v), want Copied", where, label, err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("%s: read clipboard: %v", where, err)
			}
			if got != target.want {
				t.Errorf("%s: clipboard = %q, want %q", where, got, target.want)
			}
		}
		if live, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('copy-status').getAttribute('aria-live')`)); err != nil || live != "polite" {
			t.Errorf("%s: status region aria-live = %q (%v)", tc.name, live, err)
		}

		// The link itself carries the script...
		attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.ID("download-script")))
		if err != nil {
			t.Fatal(err)
		}
		data, ok := strings.CutPrefix(attrs["href"], "data:text/plain;charset=utf-8;base64,")
		if !ok {
			t.Fatalf("%s: download href %.60q", tc.name, attrs["href"])
		}
		decoded, err := base64.StdEncoding.DecodeString(data)
		if err != nil || string(decoded) != tc.page.Script {
			t.Errorf("%s: download link decodes to %q (%v), want the script", tc.name, decoded, err)
		}
		fileName := scriptFileName(tc.page.ScriptFileName)
		if attrs["download"] != fileName {
			t.Errorf("%s: download attribute %q, want %q", tc.name, attrs["download"], fileName)
		}
		// ...and the browser really saves it under that name.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("download-script"))); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(downloads, fileName)
		testkit.Eventually(t, 10*time.Second, tc.name+" downloaded file", func() bool {
			b, err := os.ReadFile(path)
			return err == nil && string(b) == tc.page.Script
		})
		browser.Screenshot(t, ctx, tc.name+"-copied")
	}
	if d := w.Dialogs(); len(d) != 0 {
		t.Errorf("JavaScript dialogs opened: %q", d)
	}
}

// TestJoinInstructionsInBrowser uses the join page as an invitee would: with
// and without a Video ID, with Teams' placeholder left unreplaced, through the
// no-JavaScript form, with a typo, and with a very long ID on a 320px phone.
func TestJoinInstructionsInBrowser(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	srv := newPageServer(t, r, nil)
	ctx := browser.New(t, browserTimeout)
	w := watchBrowser(t, ctx)
	base := srv.URL + "/api/join/482913057"

	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base))
	if err != nil {
		t.Fatal(err)
	}
	if cc, _ := resp.Headers["Cache-Control"].(string); strings.Contains(cc, "no-store") || cc == "" {
		t.Errorf("join page Cache-Control %q, want short caching", cc)
	}
	inspect(t, ctx, "join without conf")
	text := browser.BodyText(t, ctx)
	containsAll(t, "join without conf", text, []string{"On your video system, dial 482913057@eu.teams.videosrv.net",
		"enter the meeting's Video ID", "Join with a video conferencing device", "not the audio conference ID", "Service region: Europe"})
	if strings.Contains(text, "join this meeting directly") || strings.Contains(text, "doesn't name a meeting") {
		t.Errorf("join without conf offers a direct address it can't know:\n%s", text)
	}
	labelled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('conf').labels.length === 1`))
	if err != nil || !labelled {
		t.Errorf("Video ID input has no label (%v)", err)
	}
	browser.Screenshot(t, ctx, "join-no-conf")

	// Opened outside an invite: Teams' {ConfId} is still in the link (as
	// Teams would send it, and as a browser percent-encodes it).
	for _, q := range []string{"?conf={ConfId}", "?conf=%7BConfId%7D"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+q)); err != nil {
			t.Fatal(err)
		}
		inspect(t, ctx, "join with placeholder")
		text = browser.BodyText(t, ctx)
		containsAll(t, "join with placeholder "+q, text, []string{"This link doesn't name a meeting. Open it from the meeting invite",
			"On your video system, dial 482913057@eu.teams.videosrv.net", "enter the meeting's Video ID"})
		if strings.Contains(text, "ConfId") || strings.Contains(text, "isn't a Video ID") || strings.Contains(text, "join this meeting directly") {
			t.Errorf("placeholder page repeats the placeholder, calls it invalid or offers a direct address:\n%s", text)
		}
	}
	browser.Screenshot(t, ctx, "join-placeholder")
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}

	// Fill in the form; it is a plain GET form, so this is what no-JS browsers do too.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("conf"), "123 456 789")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loc, base+"?conf=123+456+789") {
		t.Errorf("form submitted to %q (%v)", loc, err)
	}
	inspect(t, ctx, "join with conf")
	text = browser.BodyText(t, ctx)
	containsAll(t, "join with conf", text, []string{"Video ID 123456789", "dial 123456789.482913057@eu.teams.videosrv.net",
		"dial 482913057@eu.teams.videosrv.net", "When asked, enter the Video ID 123456789"})
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("conf"))); err != nil || v != "123456789" {
		t.Errorf("form value %q (%v), want the Video ID filled in", v, err)
	}
	if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('direct-dial-link').getAttribute('href')`)); err != nil ||
		href != "sip:123456789.482913057@eu.teams.videosrv.net" {
		t.Errorf("direct-dial link %q (%v)", href, err)
	}
	browser.Screenshot(t, ctx, "join-with-conf")

	// A typo: say so next to the field, without repeating the input (it
	// comes from a link anyone can craft).
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"?conf=12a34%22%3E%3Cb%3EPHISH")); err != nil {
		t.Fatal(err)
	}
	inspect(t, ctx, "join with bad conf")
	text = browser.BodyText(t, ctx)
	containsAll(t, "join with bad conf", text, []string{`That isn't a Video ID.`})
	if strings.Contains(text, "12a34") || strings.Contains(text, "PHISH") {
		t.Errorf("bad conf page reflects the input:\n%s", text)
	}
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.ID("conf")))
	if err != nil || attrs["aria-invalid"] != "true" || attrs["value"] != "" || !strings.Contains(attrs["aria-describedby"], "conf-error") {
		t.Errorf("bad conf field attributes %v (%v)", attrs, err)
	}
	browser.Screenshot(t, ctx, "join-bad-conf")

	// The longest ID we accept, on a 320px phone.
	long := strings.Repeat("9876543210", 4)[:MaxVideoIDDigits]
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(320, 720, chromedp.EmulateMobile),
		chromedp.Navigate(base+"?conf="+long),
	); err != nil {
		t.Fatal(err)
	}
	rep := inspect(t, ctx, "join long conf at 320px")
	if rep.ClientWidth != 320 || rep.ScrollWidth > rep.ClientWidth {
		t.Errorf("long Video ID: page is %dpx wide in a %dpx viewport", rep.ScrollWidth, rep.ClientWidth)
	}
	containsAll(t, "join long conf", browser.BodyText(t, ctx), []string{long + ".482913057@eu.teams.videosrv.net"})
	browser.Screenshot(t, ctx, "join-long-conf-320")

	if d := w.Dialogs(); len(d) != 0 {
		t.Errorf("JavaScript dialogs opened: %q", d)
	}
}

// TestPagesWithoutJavaScript: with scripts off, the granted page still shows
// the script, details and the download link, and no dead Copy buttons.
func TestPagesWithoutJavaScript(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	cases := realisticPages()
	srv := newPageServer(t, r, cases)
	ctx := browser.New(t, browserTimeout)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page/granted")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitNotVisible(chromedp.CSS(`button[data-copy-target="powershell"]`))); err != nil {
		t.Errorf("copy button visible without JavaScript: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("download-script"))); err != nil {
		t.Errorf("download link not visible: %v", err)
	}
	code, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("powershell")))
	if err != nil || code != realisticScript {
		t.Errorf("script text without JavaScript = %q (%v)", code, err)
	}
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("tenant-key")))
	if err != nil || key != "482913057@eu.teams.videosrv.net" {
		t.Errorf("tenant key without JavaScript = %q (%v)", key, err)
	}
	browser.Screenshot(t, ctx, "granted-no-js")
}

func pageByName(t *testing.T, cases []pageCase, name string) Page {
	t.Helper()
	for _, c := range cases {
		if c.name == name {
			return c.page
		}
	}
	t.Fatalf("no page case %q", name)
	return nil
}
