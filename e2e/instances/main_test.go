package instances_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crowdgate/crowdgate/store/storetest"
)

// defaultPostgres is the server CI starts (.ci/run), tried when CROWDGATE_TEST_POSTGRES is unset.
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	binary     string // the crowdgate binary every test runs
	skipReason string // why every test skips; "" when they run
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	var err error
	if skipReason, err = choosePostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/instances:", err)
		return 1
	}
	if skipReason == "" {
		dir, err := os.MkdirTemp("", "crowdgate-instances-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e/instances:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e/instances:", err)
			return 1
		}
	}
	return m.Run()
}

// choosePostgres decides whether the tests run. They are skipped only on a SQLite run; with the
// dialect unset they run when a PostgreSQL server is configured or the default one answers; with
// CROWDGATE_TEST_DIALECT=postgres they always run (and fail if no server answers), so CI cannot
// skip them by accident.
func choosePostgres() (skip string, err error) {
	dialect := os.Getenv(storetest.EnvDialect)
	switch dialect {
	case "sqlite":
		return storetest.EnvDialect + "=sqlite: these tests run several crowdgate processes on one PostgreSQL database", nil
	case "", "postgres":
	default:
		return "", fmt.Errorf("%s=%q is neither sqlite nor postgres", storetest.EnvDialect, dialect)
	}
	if os.Getenv(storetest.EnvPostgres) != "" {
		return "", nil
	}
	if dialect == "" && !answers(defaultPostgres) {
		return storetest.EnvPostgres + " is unset and " + defaultPostgres + " does not answer: these tests need PostgreSQL", nil
	}
	// storetest reads the server from the environment.
	return "", os.Setenv(storetest.EnvPostgres, defaultPostgres)
}

func answers(dsn string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx) == nil
}

// build compiles ./cmd/crowdgate into dir, with the race detector when this test binary has it.
func build(dir string) (string, error) {
	out := filepath.Join(dir, "crowdgate")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/crowdgate")...)
	cmd.Dir = filepath.Join("..", "..") // the module root, from this package's directory
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/crowdgate: %w\n%s", err, b)
	}
	fmt.Fprintf(os.Stderr, "e2e/instances: built crowdgate (race=%t) in %s\n", raceEnabled, time.Since(start).Round(time.Millisecond))
	return out, nil
}

// needPostgres skips the test when the package's tests do not run, and returns the URL of a new
// empty database, dropped when the test ends.
func needPostgres(t *testing.T) string {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	return storetest.URL(t, "postgres")
}
