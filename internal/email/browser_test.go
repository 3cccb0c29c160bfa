package email

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onemeeting/cvi-onboarding/internal/dev/browser"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// TestEmailsInChromium loads every rendered email into headless Chromium and
// checks through the DOM what a reader gets: the values as visible text,
// no element or script a value injected, no resource fetched, a 600px
// layout that does not overflow, readable text, working links. It saves a
// screenshot of every email (wide and phone-sized) for people to look at.
func TestEmailsInChromium(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	cases := emailCases(t)
	pages := make(map[string]string, len(cases))
	msgs := make(map[string]Message, len(cases))
	for _, tc := range cases {
		msg := mustRender(t, r, tc)
		msgs[tc.name] = msg
		pages["/"+tc.name] = msg.HTML
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		page, ok := pages[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)

	ctx := browser.New(t, 4*time.Minute)
	t.Logf("screenshots of every email are in %s", browser.ScreenshotDir(t))

	// Subtests share one browser tab, so they run one after another.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := msgs[tc.name]
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(1100, 900),
				chromedp.Navigate(srv.URL+"/"+tc.name),
			); err != nil {
				t.Fatalf("load email: %v", err)
			}

			if got := evalJS[string](t, ctx, `document.title`); got != msg.Subject {
				t.Errorf("title = %q, want the subject %q", got, msg.Subject)
			}
			body := browser.BodyText(t, ctx)
			for _, want := range append(slices.Clone(tc.visible), tc.links...) {
				if !strings.Contains(body, want) {
					t.Errorf("page text lacks %q", want)
				}
			}

			if n := evalJS[int](t, ctx, `document.querySelectorAll('script,img[onerror],img,iframe,frame,object,embed,svg,math,form,input,link,style,base,video,audio').length`); n != 0 {
				t.Errorf("page has %d injected or forbidden elements", n)
			}
			if n := evalJS[int](t, ctx, `[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on'))).length`); n != 0 {
				t.Errorf("%d elements carry event handler attributes", n)
			}
			if !evalJS[bool](t, ctx, `window.__pwned === undefined`) {
				t.Error("an injected script ran")
			}
			// The browser's own favicon probe is not the email's doing.
			if res := evalJS[[]string](t, ctx, `performance.getEntriesByType('resource')
				.filter(e => !(e.initiatorType === 'other' && new URL(e.name).pathname === '/favicon.ico'))
				.map(e => e.initiatorType + ' ' + e.name)`); len(res) != 0 {
				t.Errorf("the email loaded resources %q; it must be self-contained", res)
			}

			for _, href := range evalJS[[]string](t, ctx, `[...document.querySelectorAll('a')].map(a => a.href)`) {
				if href == "mailto:"+testSupport {
					continue
				}
				decoded, err := url.PathUnescape(href)
				if err != nil || !slices.Contains(tc.links, decoded) {
					t.Errorf("link %q is not one of %q", href, tc.links)
				}
			}
			if tc.kind != domain.EmailOpsAlert && tc.kind != domain.EmailConsentConfirmed && tc.kind != domain.EmailLive && tc.kind != domain.EmailLiveReminder {
				// The button: a coloured cell around a link labelled Approve.
				got := evalJS[[]string](t, ctx, `(() => {
					const a = [...document.querySelectorAll('a')].find(a => a.textContent.startsWith('Approve '));
					return a ? [getComputedStyle(a.closest('td')).backgroundColor, getComputedStyle(a).color, a.href] : [];
				})()`)
				if len(got) != 3 || got[0] != "rgb(11, 92, 173)" || got[1] != "rgb(255, 255, 255)" {
					t.Errorf("approve button (cell background, text colour, href) = %q", got)
				} else if decoded, _ := url.PathUnescape(got[2]); !slices.Contains(tc.links, decoded) {
					t.Errorf("approve button goes to %q, want one of %q", got[2], tc.links)
				}
			}
			if tc.kind == domain.EmailConsentConfirmed {
				pre := evalJS[[]string](t, ctx, `(() => { const p = document.querySelector('pre'); return p ? [getComputedStyle(p).fontFamily, p.innerText] : []; })()`)
				if len(pre) != 2 || !strings.Contains(pre[0], "monospace") || !strings.Contains(pre[1], "New-CsVideoInteropServiceProvider -Name 'Pexip' @providerSettings") {
					t.Errorf("the script must be shown in a monospace <pre>; got %q", pre)
				}
			}

			if w := evalJS[float64](t, ctx, `document.querySelector('table[width="600"]').getBoundingClientRect().width`); w < 560 || w > 600 {
				t.Errorf("card is %.0fpx wide on a wide screen, want about 600px", w)
			}
			if n := evalJS[float64](t, ctx, `Math.min(...[...document.querySelectorAll('p,li')].map(e => parseFloat(getComputedStyle(e).fontSize)))`); n < 14 {
				t.Errorf("smallest paragraph text is %.0fpx; want at least 14px", n)
			}
			checkNoOverflow(t, ctx)
			browser.Screenshot(t, ctx, "wide")

			// A phone: the card shrinks to the screen and nothing sticks out.
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 800)); err != nil {
				t.Fatalf("phone viewport: %v", err)
			}
			checkNoOverflow(t, ctx)
			browser.Screenshot(t, ctx, "phone")
		})
	}
}

// checkNoOverflow fails when anything is wider than the window: long links,
// IDs or hostile values must wrap, not push the layout sideways.
func checkNoOverflow(t *testing.T, ctx context.Context) {
	t.Helper()
	got := evalJS[[]float64](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if len(got) != 2 || got[0] > got[1] {
		t.Errorf("page is %v px wide for a window of %v px (content overflows)", got[0], got[1])
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
