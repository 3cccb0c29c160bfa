// Package httpx holds small HTTP helpers shared by the handler's routers.
package httpx

import (
	"log/slog"
	"net/http"
	"time"
)

// DurationMS is the access-log attribute for a request's duration:
// duration_ms, in milliseconds with microsecond precision.
func DurationMS(d time.Duration) slog.Attr {
	return slog.Float64("duration_ms", float64(d.Microseconds())/1000)
}

// StatusRecorder remembers the status a handler wrote, for access logs.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	Wrote  bool
}

// NewStatusRecorder wraps w; the status is 200 until a handler says otherwise.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records the first status written.
func (r *StatusRecorder) WriteHeader(code int) {
	if !r.Wrote {
		r.Status, r.Wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *StatusRecorder) Write(b []byte) (int, error) {
	r.Wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *StatusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
