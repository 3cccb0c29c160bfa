package entrasim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
)

// Operator tokens are shaped as Entra shapes them (Microsoft identity
// platform, "Access token claims reference"): v2.0 carries the API's client
// ID as aud and the /v2.0 issuer; v1.0 the App ID URI and sts.windows.net.
func TestOperatorTokenShapes(t *testing.T) {
	t.Parallel()
	const clientID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	s := startSandbox(t, func(o *entrasim.Options) {
		o.AdminAPIAudience = "api://test-admin"
		o.AdminAPIClientID = strings.ToUpper(clientID) // normalised like Entra prints it
	})
	op := s.OperatorTenantID()
	if s.AdminAPIClientID() != clientID {
		t.Fatalf("AdminAPIClientID = %q", s.AdminAPIClientID())
	}

	v2, err := s.MintOperatorToken(entrasim.OperatorClaims{Name: "Ops", PreferredUsername: "ops@contoso.example", Roles: []string{"Tenants.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	verifyWithJWKS(t, s, op, v2)
	c := claimsOf(t, v2)
	if c["aud"] != clientID || c["iss"] != s.AuthorityHost()+op+"/v2.0" || c["ver"] != "2.0" ||
		c["azp"] == nil || c["azpacr"] != "0" || c["preferred_username"] != "ops@contoso.example" {
		t.Errorf("v2 claims = %v", c)
	}
	for _, v1Only := range []string{"appid", "appidacr", "unique_name"} {
		if _, ok := c[v1Only]; ok {
			t.Errorf("v2 token carries the v1 claim %s: %v", v1Only, c)
		}
	}

	v1, err := s.MintOperatorToken(entrasim.OperatorClaims{Name: "Ops", PreferredUsername: "ops@contoso.example", Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	verifyWithJWKS(t, s, op, v1)
	c = claimsOf(t, v1)
	if c["aud"] != "api://test-admin" || c["iss"] != "https://sts.windows.net/"+op+"/" || c["iss"] != s.V1Issuer(op) ||
		c["ver"] != "1.0" || c["appid"] == nil || c["appidacr"] != "0" || c["unique_name"] != "ops@contoso.example" {
		t.Errorf("v1 claims = %v", c)
	}
	for _, v2Only := range []string{"azp", "azpacr", "preferred_username"} {
		if _, ok := c[v2Only]; ok {
			t.Errorf("v1 token carries the v2 claim %s: %v", v2Only, c)
		}
	}

	if _, err := s.MintOperatorToken(entrasim.OperatorClaims{Version: "3.0"}); err == nil {
		t.Error("Version 3.0 minted a token")
	}
}

// The default client ID is the one local.settings.sample.json names, so
// `make run` works without configuring the sandbox; a manifest left at v1
// (AdminAPITokenVersion 1) makes v1 the default.
func TestOperatorTokenDefaults(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	if c := claimsOf(t, mustMint(t, s, entrasim.OperatorClaims{})); c["aud"] != entrasim.DefaultAdminAPIClientID || c["ver"] != "2.0" {
		t.Errorf("default claims = %v", c)
	}
	sample, err := readSampleSetting("ADMIN_API_CLIENT_ID")
	if err != nil {
		t.Fatal(err)
	}
	if sample != entrasim.DefaultAdminAPIClientID {
		t.Errorf("local.settings.sample.json ADMIN_API_CLIENT_ID %q differs from entrasim.DefaultAdminAPIClientID %q", sample, entrasim.DefaultAdminAPIClientID)
	}

	v1 := startSandbox(t, func(o *entrasim.Options) { o.AdminAPITokenVersion = 1 })
	if c := claimsOf(t, mustMint(t, v1, entrasim.OperatorClaims{})); c["aud"] != "api://onemeeting-cvi-admin" || c["ver"] != "1.0" {
		t.Errorf("v1-manifest default claims = %v", c)
	}
	if c := claimsOf(t, mustMint(t, v1, entrasim.OperatorClaims{Version: "2.0"})); c["aud"] != entrasim.DefaultAdminAPIClientID {
		t.Errorf("per-token override = %v", c)
	}

	for name, mutate := range map[string]func(*entrasim.Options){
		"App ID URI as client ID": func(o *entrasim.Options) { o.AdminAPIClientID = "api://onemeeting-cvi-admin" },
		"token version 3":         func(o *entrasim.Options) { o.AdminAPITokenVersion = 3 },
	} {
		opts := entrasim.Options{OperatorTenantID: "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f", LookupEnv: noEnv}
		mutate(&opts)
		if sb, err := entrasim.Start(context.Background(), opts); err == nil {
			_ = sb.Close()
			t.Errorf("%s: Start accepted the options", name)
		}
	}
}

// The control endpoint `make run` prints mints v2 by default and v1 on request.
func TestControlOperatorTokenVersion(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(s.ConsentHost()+"sandbox/operator-token", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, claimsOf(t, tr.AccessToken)
	}
	if code, c := post(`{"roles":["Tenants.ReadWrite"],"name":"Local Operator"}`); code != http.StatusOK ||
		c["aud"] != s.AdminAPIClientID() || c["iss"] != s.Issuer(s.OperatorTenantID()) {
		t.Errorf("default: %d %v", code, c)
	}
	if code, c := post(`{"version":"1.0"}`); code != http.StatusOK || c["ver"] != "1.0" || c["iss"] != s.V1Issuer(s.OperatorTenantID()) {
		t.Errorf("v1: %d %v", code, c)
	}
	if code, _ := post(`{"version":"2"}`); code != http.StatusBadRequest {
		t.Errorf("bad version: %d, want 400", code)
	}
}

func mustMint(t *testing.T, s *entrasim.Sandbox, p entrasim.OperatorClaims) string {
	t.Helper()
	tok, err := s.MintOperatorToken(p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readSampleSetting(name string) (string, error) {
	b, err := os.ReadFile("../../../local.settings.sample.json")
	if err != nil {
		return "", err
	}
	var local struct{ Values map[string]string }
	if err := json.Unmarshal(b, &local); err != nil {
		return "", err
	}
	return local.Values[name], nil
}
