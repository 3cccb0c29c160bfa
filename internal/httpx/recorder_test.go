package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStatusRecorder(t *testing.T) {
	rec := NewStatusRecorder(httptest.NewRecorder())
	if rec.Status != http.StatusOK || rec.Wrote {
		t.Fatalf("initial = %d %v", rec.Status, rec.Wrote)
	}
	rec.WriteHeader(http.StatusTeapot)
	rec.WriteHeader(http.StatusInternalServerError) // ignored by net/http too
	if rec.Status != http.StatusTeapot || !rec.Wrote {
		t.Fatalf("after WriteHeader = %d %v", rec.Status, rec.Wrote)
	}
	body := NewStatusRecorder(httptest.NewRecorder())
	_, _ = body.Write([]byte("x"))
	if body.Status != http.StatusOK || !body.Wrote {
		t.Fatalf("after Write = %d %v", body.Status, body.Wrote)
	}
}
