package config

import "testing"

// TestLocalMFA: auto requires the second factor exactly when SAML sign-in is configured; required
// and optional force either; anything else is refused.
func TestLocalMFA(t *testing.T) {
	for _, tc := range []struct {
		mfa  string
		saml bool
		want bool
	}{
		{"", false, false}, {"", true, true}, // the default is auto
		{"auto", false, false}, {"auto", true, true},
		{"required", false, true}, {"required", true, true},
		{"optional", false, false}, {"Optional", true, false},
	} {
		e := env{"CROWDGATE_DATABASE_URL": "x.db"}
		if tc.mfa != "" {
			e["CROWDGATE_LOCAL_MFA"] = tc.mfa
		}
		if tc.saml {
			e["CROWDGATE_SAML_IDP_METADATA_FILE"] = "idp.xml"
			e["CROWDGATE_BASE_URL"] = "https://sso.example.com"
		}
		c, err := loadArgs(t, e)
		if err != nil {
			t.Fatalf("%q, SAML %v: %v", tc.mfa, tc.saml, err)
		}
		if got := c.LocalMFARequired(); got != tc.want {
			t.Errorf("CROWDGATE_LOCAL_MFA=%q, SAML %v: required %v, want %v", tc.mfa, tc.saml, got, tc.want)
		}
	}
	if _, err := loadArgs(t, env{"CROWDGATE_DATABASE_URL": "x.db", "CROWDGATE_LOCAL_MFA": "sometimes"}); err == nil {
		t.Error("CROWDGATE_LOCAL_MFA=sometimes accepted")
	}
}
