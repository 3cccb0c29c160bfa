package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/onemeeting/cvi-onboarding/contracts"
)

// Without -file the command sends the contract's example, served by the
// contracts package (so it works from any directory): the same request as
// -file naming the committed example by its absolute path.
func TestDefaultRequestIsTheContractExample(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	committed := examplePath(t)
	t.Chdir(t.TempDir()) // no contracts/ here
	def, defID, err := buildRequest(o)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, fileID, err := buildRequest(options{File: committed})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(def, fromFile) || defID != fileID || defID != "CRM-2026-000123" {
		t.Errorf("default %s (%s); -file example %s (%s)", def, defID, fromFile, fileID)
	}
	var want, got any
	if json.Unmarshal(contracts.ProvisioningV1Example(), &want) != nil || json.Unmarshal(def, &got) != nil {
		t.Fatal("not JSON")
	}
	if a, b := must(json.Marshal(want)), must(json.Marshal(got)); !bytes.Equal(a, b) {
		t.Errorf("default request %s; want the contract example %s", b, a)
	}
	if raw, err := os.ReadFile(committed); err != nil || !bytes.Equal(raw, contracts.ProvisioningV1Example()) {
		t.Errorf("the embedded example differs from the committed file (%v)", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
