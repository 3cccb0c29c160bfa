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
