package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// hop is one document request of a tab and the status it got (a redirect is a hop too).
type hop struct {
	Method string
	URL    string
	Status int64
}

func (h hop) String() string { return fmt.Sprintf("%s %s %d", h.Method, h.URL, h.Status) }

// tab is a browser tab in a browser context of its own (its own cookies), with a log of its
// document requests: the redirects and form posts of a sign-in, as the browser saw them.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots *shots

	mu    sync.Mutex
	hops  []hop
	byReq map[network.RequestID]int
}

func newTab(t *testing.T, browser context.Context, shots *shots) *tab {
	t.Helper()
	cctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(cctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	tb := &tab{t: t, ctx: ctx, shots: shots, byReq: map[network.RequestID]int{}}
	if err := chromedp.Listen(ctx, tb.event); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

// event records document requests; it runs in the tab's event loop and must not block.
func (tb *tab) event(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument || ev.Request == nil {
			return
		}
		tb.mu.Lock()
		if i, ok := tb.byReq[ev.RequestID]; ok && ev.RedirectResponse != nil {
			tb.hops[i].Status = ev.RedirectResponse.Status
		}
		tb.byReq[ev.RequestID] = len(tb.hops)
		tb.hops = append(tb.hops, hop{Method: ev.Request.Method, URL: ev.Request.URL})
		tb.mu.Unlock()
	case *network.EventResponseReceived:
		if ev.Type != network.ResourceTypeDocument || ev.Response == nil {
			return
		}
		tb.mu.Lock()
		if i, ok := tb.byReq[ev.RequestID]; ok {
			tb.hops[i].Status = ev.Response.Status
		}
		tb.mu.Unlock()
	}
}

// mark returns the position in the request log, for hopsSince.
func (tb *tab) mark() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.hops)
}

func (tb *tab) hopsSince(m int) []hop {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]hop(nil), tb.hops[m:]...)
}

// navigate opens rawURL like a typed address and waits for the page (after redirects) to load.
func (tb *tab) navigate(what, rawURL string) {
	tb.t.Helper()
	tb.t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
	if err := chromedp.Do(tb.ctx, chromedp.Navigate(rawURL)); err != nil {
		tb.t.Fatalf("%s: navigate to %s: %v", what, rawURL, err)
	}
}

// do runs actions that return nothing.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// state is what a page looks like from the test.
type state struct {
	URL   string `json:"url"`
	Ready string `json:"ready"`
	Text  string `json:"text"`
	Title string `json:"title"`
}

// waitFor waits until the tab has loaded a page that satisfies ok, across any number of
// redirects, script-submitted forms and page loads in between.
func (tb *tab) waitFor(what string, ok func(state) bool) state {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last state
	var lastErr error
	for time.Now().Before(deadline) && tb.ctx.Err() == nil {
		s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[state](
			`({url: location.href, ready: document.readyState, title: document.title, text: document.body ? document.body.innerText : ""})`))
		if err == nil {
			last, lastErr = s, nil
			if s.Ready == "complete" && ok(s) {
				return s
			}
		} else {
			lastErr = err // a navigation replaced the page under the script: try again
		}
		time.Sleep(40 * time.Millisecond)
	}
	tb.t.Fatalf("%s: timed out; last page %s (%s) %q, error %v; requests:\n%s", what, last.URL, last.Ready, last.Text, lastErr, hopList(tb.hopsSince(0)))
	return state{}
}

// at is a waitFor condition: the page's URL is exactly u.
func at(u string) func(state) bool { return func(s state) bool { return s.URL == u } }

// under is a waitFor condition: the page's URL starts with prefix.
func under(prefix string) func(state) bool {
	return func(s state) bool { return strings.HasPrefix(s.URL, prefix) }
}

// cookie returns the browser's cookie named name that goes to rawURL.
func (tb *tab) cookie(rawURL, name string) (*network.Cookie, bool) {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{rawURL}})
	if err != nil {
		tb.t.Fatalf("cookies of %s: %v", rawURL, err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// screenshot saves the tab as name.png and returns the PNG.
func (tb *tab) screenshot(name string) []byte {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		tb.t.Fatalf("screenshot %s is not a PNG", name)
	}
	tb.shots.save(tb.t, name, png)
	return png
}

// shots is where the screenshots go: CROWDGATE_SCREENSHOTS, or the test's temporary directory.
type shots struct {
	dir string
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("CROWDGATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &shots{dir: dir}
}

func (s *shots) save(t *testing.T, name string, png []byte) {
	t.Helper()
	p := filepath.Join(s.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// publish copies a screenshot into the repository's docs/ when CROWDGATE_WRITE_SCREENSHOTS=1
// (never in CI runs, which must leave the tree clean).
func publish(t *testing.T, name string, png []byte) {
	t.Helper()
	if os.Getenv("CROWDGATE_WRITE_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("..", "docs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	t.Logf("published %s", abs)
}

func hopList(hs []hop) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString("  " + h.String() + "\n")
	}
	return b.String()
}
