package domain

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateOnCharacterBoundary(t *testing.T) {
	body := []byte(strings.Repeat("a", 1023) + "é" + "tail")
	got := BodyPrefix(body, 1024)
	if got != strings.Repeat("a", 1023) || !utf8.ValidString(got) {
		t.Fatalf("prefix cut inside a character: %q", got[1015:])
	}
	if got := Truncate("ab\xffcd", 10); got != "ab\uFFFDcd" {
		t.Fatalf("invalid byte kept: %q", got)
	}
	if got := Truncate("😀😀", 5); got != "😀" {
		t.Fatalf("emoji cut: %q", got)
	}
	if got := BodyPrefix([]byte("short"), 1024); got != "short" {
		t.Fatalf("short body changed: %q", got)
	}
}

func TestConsentEmailKeyFitsAMessageID(t *testing.T) {
	id := "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	if got := ConsentEmailKey(EmailConsentLink, id, "CRM-1"); got != "consent-link:"+id+":CRM-1" {
		t.Fatalf("short key changed: %q", got)
	}
	long := strings.Repeat("r", 128)
	a, b := ConsentEmailKey(EmailConsentReminder, id, long), ConsentEmailKey(EmailConsentReminder, id, long[:127]+"s")
	if len(a) > MaxMessageIDLength || a == b || ValidateRequestID("r", long) != nil {
		t.Fatalf("long key %q (%d), distinct %v", a, len(a), a != b)
	}
}

func TestConsentLinkKeyNamesTheAdminSet(t *testing.T) {
	id := "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	a := ConsentLinkKey(id, []string{"b@contoso.com", "A@Contoso.com"})
	if b := ConsentLinkKey(id, []string{"a@contoso.com", "b@contoso.com", "b@contoso.com"}); a != b {
		t.Errorf("same admins, other order/case: %s vs %s", a, b)
	}
	if c := ConsentLinkKey(id, []string{"a@contoso.com"}); c == a {
		t.Error("another admin set gives the same key")
	}
	if len(a) > MaxMessageIDLength || !strings.HasPrefix(a, "consent-link:"+id+":") {
		t.Errorf("key %q", a)
	}
}
