// Package chromium starts the headless Chromium that crowdgate's browser tests drive: Debian's
// package at /usr/bin/chromium, never a browser a Go driver downloads, with a fresh profile and
// no background networking, so a test sees only the traffic it causes.
package chromium

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package installs the browser (.ci/deps.sh installs it).
const Path = "/usr/bin/chromium"

// Start launches one headless Chromium for t with a window of width×height pixels and returns a
// function that waits for it and gives the browser's context. The browser starts in the
// background, outside any timeout, so a test can set up its servers meanwhile; it is closed when
// t ends. Without Chromium the test is skipped, except in CI (CI=true), where that is a failure;
// -short skips it too.
func Start(t testing.TB, width, height int) (wait func() context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: run .ci/deps.sh (it installs Debian's chromium): %v", Path, err)
		}
		t.Skipf("%s is missing; install it with .ci/deps.sh (apt-get install -y chromium)", Path)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(Path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.WindowSize(width, height),
	)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	start := time.Now()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	return func() context.Context {
		t.Helper()
		if err := <-started; err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
		return ctx
	}
}
