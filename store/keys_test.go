package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/crowdgate/crowdgate/secretbox"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// boxSealer is the key ring cmd/crowdgate gives the store, over a random key.
type boxSealer struct{ box *secretbox.Box }

func (b boxSealer) SealSetting(name, plain string) (string, error) {
	return b.box.Seal(plain, "setting "+name)
}
func (b boxSealer) OpenSetting(name, sealed string) (string, error) {
	return b.box.Open(sealed, "setting "+name)
}

// sealWithNewKey gives st a key ring over a new random key.
func sealWithNewKey(t *testing.T, st *store.Store) {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	rand.Read(k)
	box, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	st.SetSettingSealer(boxSealer{box})
}

// TestInstanceKeysEncrypted: with a key ring the SAML state key and the console CSRF key are stored
// encrypted; a SAML state key stored in plain text before is encrypted at its first read and keeps
// its value.
func TestInstanceKeysEncrypted(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	plain, err := st.SAMLStateKey(ctx) // stored before encryption existed
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Setting(ctx, "saml_state_key"); secretbox.IsSealed(v) {
		t.Fatal("sealed without a key ring")
	}
	sealWithNewKey(t, st)
	for range 2 {
		got, err := st.SAMLStateKey(ctx)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("SAML state key after sealing: %x, %v; want the same key %x", got, err, plain)
		}
		if v, _ := st.Setting(ctx, "saml_state_key"); !secretbox.IsSealed(v) {
			t.Fatalf("the SAML state key is stored in plain text: %q", v)
		}
	}
	csrf, err := st.ConsoleCSRFKey(ctx)
	if err != nil || len(csrf) != 32 {
		t.Fatalf("CSRF key %x, %v", csrf, err)
	}
	if v, _ := st.Setting(ctx, "console_csrf_key"); !secretbox.IsSealed(v) {
		t.Fatalf("a new key is stored in plain text: %q", v)
	}
	// A sealed value tampered with, or moved to another setting, does not open.
	v, _ := st.Setting(ctx, "console_csrf_key")
	if err := st.SetSetting(store.WithActor(ctx, store.Actor{Kind: store.ActorSystem}), "saml_state_key", v); err != nil {
		t.Fatal(err)
	}
	// ... so it is replaced by a new key: what it protected (sign-ins under way) is lost, the
	// service is not.
	got, err := st.SAMLStateKey(ctx)
	if err != nil || len(got) != 32 || bytes.Equal(got, plain) || bytes.Equal(got, csrf) {
		t.Errorf("SAML state key sealed for another setting: %x, %v; want a new key", got, err)
	}
	if again, err := st.SAMLStateKey(ctx); err != nil || !bytes.Equal(again, got) {
		t.Errorf("the replacement key did not stay: %x, %v", again, err)
	}
}
