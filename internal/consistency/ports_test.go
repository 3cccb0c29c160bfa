package consistency

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Services record a message that can never succeed through the
// domain.RejectionRecorder port; internal/app wires the one recorder.
func TestServicesRecordRejectionsThroughThePort(t *testing.T) {
	for _, f := range parseRepo(t) {
		if f.test || f.pkg == "internal/rejections" || !slices.Contains(services, f.pkg) {
			continue
		}
		if slices.Contains(imports(f), "internal/rejections") {
			t.Errorf("%s imports internal/rejections: take a domain.RejectionRecorder (wired in internal/app)", f.rel)
		}
	}
}

// A tenant is written under optimistic concurrency only by
// domain.UpdateTenant/UpdateLoadedTenant, the one bounded retry loop; a
// direct store write elsewhere would bring back a loop of its own.
func TestTenantWritesGoThroughTheBoundedLoop(t *testing.T) {
	direct := regexp.MustCompile(`(\w+)\.UpdateTenant\(`)
	for _, f := range parseRepo(t) {
		if f.test || f.pkg == "internal/domain" || f.pkg == "internal/tablestore" {
			continue
		}
		for i, line := range strings.Split(f.src, "\n") {
			for _, m := range direct.FindAllStringSubmatch(line, -1) {
				if m[1] != "domain" {
					t.Errorf("%s:%d writes a tenant directly: %s (use domain.UpdateTenant)", f.rel, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
}
