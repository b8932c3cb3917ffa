package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crowdgate/crowdgate/secretbox"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustBox(t *testing.T, cur []byte, prev ...[]byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	b := mustBox(t, newKey(t))
	const secret = "Xy7~client-secret-value"
	sealed, err := b.Seal(secret, "directory 1 client_secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "enc:v1:"+b.CurrentKeyID()+":") || strings.Contains(sealed, secret) {
		t.Fatalf("sealed = %q", sealed)
	}
	if !secretbox.IsSealed(sealed) || secretbox.IsSealed(secret) {
		t.Error("IsSealed")
	}
	again, _ := b.Seal(secret, "directory 1 client_secret")
	if again == sealed {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	got, err := b.Open(sealed, "directory 1 client_secret")
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if b.NeedsSeal(sealed) || !b.NeedsSeal(secret) {
		t.Error("NeedsSeal")
	}
	empty, _ := b.Seal("", "a")
	if got, err := b.Open(empty, "a"); err != nil || got != "" {
		t.Errorf("empty: %q, %v", got, err)
	}
}

func TestBoundToObject(t *testing.T) {
	b := mustBox(t, newKey(t))
	sealed, _ := b.Seal("s", "directory 1 client_secret")
	if _, err := b.Open(sealed, "directory 2 client_secret"); !errors.Is(err, secretbox.ErrDecrypt) {
		t.Fatalf("moved to another directory: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	sealed, _ := mustBox(t, newKey(t)).Seal("s", "a")
	_, err := mustBox(t, newKey(t)).Open(sealed, "a")
	if !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("other key: %v", err)
	}
	// A forged key id naming the current key still fails authentication.
	other := mustBox(t, newKey(t))
	forged := "enc:v1:" + other.CurrentKeyID() + sealed[strings.LastIndex(sealed, ":"):]
	if _, err := other.Open(forged, "a"); !errors.Is(err, secretbox.ErrDecrypt) {
		t.Fatalf("forged id: %v", err)
	}
}

func TestTampered(t *testing.T) {
	b := mustBox(t, newKey(t))
	sealed, _ := b.Seal("secret", "a")
	// One character of the ciphertext changed (one whose six bits all count, unlike the last);
	// regression: replacing the last two with "AA" sometimes changed nothing.
	i := len(sealed) - 10
	flip := byte('A')
	if sealed[i] == flip {
		flip = 'B'
	}
	tampered := sealed[:i] + string(flip) + sealed[i+1:]
	for _, bad := range []string{
		tampered, "enc:v1:", "enc:v1:" + b.CurrentKeyID() + ":", "enc:v1:" + b.CurrentKeyID() + ":!!",
		"enc:v1::abc", "plain",
	} {
		if _, err := b.Open(bad, "a"); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	old := mustBox(t, oldKey)
	sealed, _ := old.Seal("secret", "a")
	rotated := mustBox(t, newK, oldKey)
	if !rotated.NeedsSeal(sealed) {
		t.Error("a value sealed with the previous key needs sealing again")
	}
	got, err := rotated.Open(sealed, "a")
	if err != nil || got != "secret" {
		t.Fatalf("previous key: %q, %v", got, err)
	}
	resealed, _ := rotated.Seal(got, "a")
	if rotated.NeedsSeal(resealed) {
		t.Error("resealed value still needs sealing")
	}
	// Once the old key is dropped, only the resealed value opens.
	only := mustBox(t, newK)
	if _, err := only.Open(resealed, "a"); err != nil {
		t.Error(err)
	}
	if _, err := only.Open(sealed, "a"); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Error(err)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	if _, err := secretbox.New(make([]byte, 16)); err == nil {
		t.Error("16-byte key accepted")
	}
	if _, err := secretbox.New(newKey(t), []byte("short")); err == nil {
		t.Error("short previous key accepted")
	}
}

func TestParseKey(t *testing.T) {
	k := newKey(t)
	for _, s := range []string{secretbox.EncodeKey(k), " " + secretbox.EncodeKey(k) + "\n",
		strings.TrimRight(secretbox.EncodeKey(k), "=")} {
		got, err := secretbox.ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "not base64!", secretbox.EncodeKey(k[:16])} {
		if _, err := secretbox.ParseKey(s); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("ParseKey(%q) = %v", s, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "crowdgate.db.key")
	k, created, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k) != secretbox.KeySize {
		t.Fatalf("create: %x %v %v", k, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, k) {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secretbox.LoadOrCreateKeyFile(path); err == nil {
		t.Error("a corrupt key file was replaced or accepted")
	}
}

func TestLoadOrCreateKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := secretbox.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("racing creators got different keys")
		}
	}
}
