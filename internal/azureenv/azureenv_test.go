package azureenv

import "testing"

func TestDetect(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if in, _ := Detect(lookup); in {
		t.Fatal("empty environment detected as Azure")
	}
	env["WEBSITE_SITE_NAME"] = "   "
	if in, _ := Detect(lookup); in {
		t.Fatal("blank marker detected as Azure")
	}
	env["WEBSITE_SITE_NAME"] = "onemeeting-cvi"
	in, marker := Detect(lookup)
	if !in || marker != "WEBSITE_SITE_NAME" {
		t.Fatalf("Detect = %v, %q; want true, WEBSITE_SITE_NAME", in, marker)
	}
}
