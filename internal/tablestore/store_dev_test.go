package tablestore

import (
	"strings"
	"testing"
)

func TestExpandDevelopmentStorage(t *testing.T) {
	for _, in := range []string{"UseDevelopmentStorage=true", " usedevelopmentstorage=true; "} {
		got := expandDevelopmentStorage(in)
		if !strings.Contains(got, "AccountName=devstoreaccount1") || !strings.Contains(got, "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1") {
			t.Errorf("%q → %q", in, got)
		}
	}
	explicit := "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net"
	if got := expandDevelopmentStorage(explicit); got != explicit {
		t.Errorf("explicit string changed: %q", got)
	}
	if _, err := NewFromConnectionString("UseDevelopmentStorage=true", Options{}); err != nil {
		t.Errorf("shorthand rejected: %v", err)
	}
}
