package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetryBackoffSettings(t *testing.T) {
	c, err := Load(lookupFrom(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.RetryBackoffBase != 10*time.Second || c.RetryBackoffMax != 15*time.Minute || c.RetryBackoffMaxTotal != 24*time.Hour {
		t.Errorf("defaults = %s %s %s", c.RetryBackoffBase, c.RetryBackoffMax, c.RetryBackoffMaxTotal)
	}
	env := validEnv()
	env["RETRY_BACKOFF_BASE"] = "2m"
	env["RETRY_BACKOFF_MAX"] = "1m"
	env["RETRY_BACKOFF_MAX_TOTAL"] = "forever"
	_, err = Load(lookupFrom(env))
	if err == nil || !strings.Contains(err.Error(), "RETRY_BACKOFF_MAX must not be shorter than RETRY_BACKOFF_BASE") ||
		!strings.Contains(err.Error(), "RETRY_BACKOFF_MAX_TOTAL must be a duration") {
		t.Errorf("err = %v", err)
	}
}
