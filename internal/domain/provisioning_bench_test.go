package domain

import (
	"strings"
	"testing"
)

// BenchmarkDecodeProvisioning: one inbound message through the decoder,
// for a valid body, a typical malformed one and the 60 KB worst case.
func BenchmarkDecodeProvisioning(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"valid", example},
		{"malformed", strings.NewReplacer(`"eu"`, `"mars"`, `"203.0.113.7"`, `"10.1.2.3"`, `"role": "technical"`, `"role": "boss"`).Replace(example)},
		{"unknown_fields=2500", manyUnknownFields(2500)},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = DecodeProvisioningRequest(body, IPPolicy{}, known)
			}
		})
	}
}
