package browser

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserRendersAndScreenshots(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><p id="p">Hello &lt;b&gt;</p>`))
	}))
	defer srv.Close()
	ctx := New(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got := BodyText(t, ctx); !strings.Contains(got, "Hello <b>") {
		t.Fatalf("body text = %q", got)
	}
	path := Screenshot(t, ctx, "hello")
	if st, err := os.Stat(path); err != nil || st.Size() < 100 {
		t.Fatalf("screenshot not written: %v", err)
	}
}
