package crowdimport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// emptyStore is a reader over an empty directory: validation looks up only the target directories.
type emptyStore struct{ reader }

func (emptyStore) DirectoryByName(context.Context, string) (store.Directory, error) {
	return store.Directory{}, store.ErrNotFound
}

// FuzzValidateBackup feeds arbitrary input to the parser and the validation pass: they must never
// panic or hang, and every refusal must be an input error naming what is wrong.
func FuzzValidateBackup(f *testing.F) {
	raw, err := os.ReadFile("testdata/crowd-backup.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte("<crowd><users><user><name>a</name><directoryId>1</directoryId></user></users></crowd>"))
	f.Add([]byte(`<crowd><directories><directory><id>1</id><name>d</name><type>INTERNAL</type></directory></directories>` +
		`<memberships><membership><parentName>g</parentName><childName>u</childName><directoryId>1</directoryId></membership></memberships></crowd>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		opts := Options{}
		if err := opts.normalize(); err != nil {
			t.Fatal(err)
		}
		src := &backupSource{name: "fuzz", r: bytes.NewReader(in), size: int64(len(in))}
		_, err := validate(context.Background(), src, emptyStore{}, &opts, newReport("fuzz", true, opts.Now()))
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("not an input error: %v", err)
		}
	})
}
