package httpx

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limiter bounds the requests served at once. A request beyond the bound is
// answered at once with 503 and Retry-After instead of queueing: under
// overload, queued requests only add memory and latency for everyone (at
// 1,000 consent starts/s an unbounded handler grew to ~580 MB and 16 s).
// The Functions host is told the same bound (host.json
// extensions.http.maxConcurrentRequests; Flex perInstanceConcurrency), so it
// scales out before this refuses. Safe for concurrent use.
type Limiter struct {
	slots      chan struct{}
	retryAfter int // seconds
	log        *slog.Logger
	now        func() time.Time

	refused  atomic.Int64 // since the last warning
	lastWarn atomic.Int64 // unix nanoseconds
}

// warnEvery spaces the "shedding load" warnings: one line per interval
// with the count, not one per refused request.
const warnEvery = 10 * time.Second

// NewLimiter admits up to n requests at once; refused ones are told to
// retry after retryAfter.
func NewLimiter(n int, retryAfter time.Duration, log *slog.Logger) *Limiter {
	if n < 1 {
		n = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{slots: make(chan struct{}, n), retryAfter: max(1, int(retryAfter/time.Second)), log: log, now: time.Now}
}

// Capacity is the bound.
func (l *Limiter) Capacity() int { return cap(l.slots) }

// InFlight is how many requests hold a slot now.
func (l *Limiter) InFlight() int { return len(l.slots) }

// TryAcquire takes a slot if one is free; the caller must Release it.
func (l *Limiter) TryAcquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release returns a slot taken by TryAcquire.
func (l *Limiter) Release() { <-l.slots }

// Refuse answers r with 503 and Retry-After: problem+json for API clients
// (paths under apiPrefix, or an Accept naming JSON), else a small page.
// The body is fixed text, so refusing costs next to nothing.
func (l *Limiter) Refuse(w http.ResponseWriter, r *http.Request, apiPrefix string) {
	l.noteRefusal(r)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(l.retryAfter))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if (apiPrefix != "" && strings.HasPrefix(r.URL.Path, apiPrefix)) || strings.Contains(r.Header.Get("Accept"), "json") {
		h.Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"type":"urn:onemeeting-cvi:problem:unavailable","title":"Service unavailable","status":503,` +
			`"detail":"the service is busy; retry after ` + strconv.Itoa(l.retryAfter) + ` seconds"}`))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(busyPage))
}

const busyPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Busy – please retry</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>We are busy right now</h1>
<p>Too many requests are being handled at the moment. Nothing was changed. Please reload this page in a few seconds.</p>
</body></html>
`

// noteRefusal counts a refusal and logs one warning per warnEvery with the
// count since the previous one.
func (l *Limiter) noteRefusal(r *http.Request) {
	l.refused.Add(1)
	now := l.now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(warnEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	n := l.refused.Swap(0)
	l.log.LogAttrs(r.Context(), slog.LevelWarn, "shedding load: HTTP requests refused with 503",
		slog.Int64("refused", n), slog.Int("maxInFlight", l.Capacity()), slog.String("path", r.URL.Path))
}
