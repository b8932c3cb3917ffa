package store_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/internal/syncbuf"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestFailedStatementLoggedWithoutValues: a failed statement is logged with its SQL and error but
// not its values, which can be password hashes.
func TestFailedStatementLoggedWithoutValues(t *testing.T) {
	var out syncbuf.Buffer
	dialect := storetest.Dialect()
	st, err := store.Open(context.Background(), store.Config{URL: storetest.URL(t, dialect)}, slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const secret = "{PKCS5S2}c2VjcmV0LWhhc2gtdmFsdWU="
	if err := st.ExecForTest(context.Background(), "INSERT INTO no_such_table (credential) VALUES (?)", secret); err == nil {
		t.Fatal("the statement did not fail")
	}
	if err := st.ScanForTest(context.Background(), "SELECT credential FROM no_such_table WHERE credential = ?", secret); err == nil {
		t.Fatal("the query did not fail")
	}
	log := out.String()
	if !strings.Contains(log, "SELECT credential FROM no_such_table") {
		t.Fatalf("the failed query was not logged: %q", log)
	}
	if !strings.Contains(log, "INSERT INTO no_such_table") {
		t.Fatalf("the failed statement was not logged: %q", log)
	}
	if strings.Contains(log, secret) || strings.Contains(log, "c2VjcmV0") {
		t.Errorf("the log holds the statement's value: %q", log)
	}
}
