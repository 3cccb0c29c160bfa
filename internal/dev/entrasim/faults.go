package entrasim

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// roll decides a fault with probability rate. It hashes the seed with a
// request counter (splitmix64), so a given Seed yields the same sequence of
// decisions without a lock.
func (s *Sandbox) roll(rate float64) bool {
	switch {
	case rate <= 0:
		return false
	case rate >= 1:
		return true
	}
	n := s.faultCounter.Add(1)
	z := s.seed + n*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < rate
}

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func retryAfter(f Faults) string {
	return strconv.Itoa(max(f.RetryAfterSeconds, 0))
}

// injectTokenFaults answers for the token endpoint if a fault fires.
func (s *Sandbox) injectTokenFaults(w http.ResponseWriter, r *http.Request, f Faults) bool {
	if !sleep(r.Context(), f.Latency) {
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		return true
	}
	if f.Status503 {
		s.served503.Add(1)
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return true
	}
	if s.roll(f.Rate429) {
		s.served429.Add(1)
		w.Header().Set("Retry-After", retryAfter(f))
		s.writeAADError(w, r, http.StatusTooManyRequests, "temporarily_unavailable", 90055,
			"AADSTS90055: Too many requests have been made to the token endpoint for this tenant. Please try again later. (SANDBOX fault injection.)")
		return true
	}
	return false
}

// injectGraphFaults answers for a Graph endpoint if a fault fires.
func (s *Sandbox) injectGraphFaults(w http.ResponseWriter, r *http.Request, f Faults) bool {
	if !sleep(r.Context(), f.Latency) {
		s.writeGraphError(w, r, http.StatusServiceUnavailable, "serviceNotAvailable", "The request was cancelled.")
		return true
	}
	if f.Status503 {
		s.served503.Add(1)
		if f.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", retryAfter(f))
		}
		s.writeGraphError(w, r, http.StatusServiceUnavailable, "serviceNotAvailable",
			"The service is temporarily unavailable. Please retry later. (SANDBOX fault injection.)")
		return true
	}
	if s.roll(f.Rate429) {
		s.served429.Add(1)
		w.Header().Set("Retry-After", retryAfter(f))
		s.writeGraphError(w, r, http.StatusTooManyRequests, "TooManyRequests",
			"Too many requests. Retry after "+retryAfter(f)+" seconds. (SANDBOX fault injection.)")
		return true
	}
	return false
}
