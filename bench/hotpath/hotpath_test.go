// Package hotpath holds Go benchmarks of crowdgate's hot paths without the network: a session
// validation in the store (cache hit and miss) and through the Crowd REST handler, the echo
// handler the load benchmark uses as its ceiling, and the /group/membership document. They run on
// SQLite, or on PostgreSQL with CROWDGATE_TEST_DIALECT=postgres and CROWDGATE_TEST_POSTGRES set:
//
//	go test -run - -bench . -benchmem ./bench/hotpath
//
// The dataset is the small benchmark one (bench/dataset.Short), generated once per benchmark.
package hotpath

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

type fixture struct {
	st   *store.Store
	spec dataset.Spec
	info dataset.Info
	h    http.Handler
	auth string
}

func setup(b *testing.B, cacheTTL time.Duration) *fixture {
	b.Helper()
	st := storetest.OpenConfig(b, storetest.Dialect(), store.Config{SessionCacheTTL: cacheTTL})
	spec := dataset.Short()
	info, err := dataset.Generate(context.Background(), st, spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, st, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	jira := dataset.Apps[0]
	return &fixture{st: st, spec: spec, info: info, h: h,
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(jira.Name+":"+jira.Password))}
}

func benchValidate(b *testing.B, ttl time.Duration, tokens int) {
	f := setup(b, ttl)
	ctx := context.Background()
	v, err := f.st.View(ctx, f.info.Apps["jira"])
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = f.spec.Token(i)
	}
	i := 0
	for b.Loop() {
		if _, _, err := v.ValidateSession(ctx, toks[i%len(toks)], store.SessionCheck{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkValidateSessionHit is View.ValidateSession answered from the verdict cache.
func BenchmarkValidateSessionHit(b *testing.B) { benchValidate(b, time.Hour, 10) }

// BenchmarkValidateSessionMiss is View.ValidateSession reading the database every time (what every
// validation of a token not seen within the cache TTL costs).
func BenchmarkValidateSessionMiss(b *testing.B) { benchValidate(b, time.Nanosecond, 1000) }

func (f *fixture) validateRequest(i int) *http.Request {
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><validation-factors><validation-factor><name>remote_address</name><value>10.0.0.1</value></validation-factor></validation-factors>`
	r := httptest.NewRequest("POST", "http://127.0.0.1/crowd/rest/usermanagement/1/session/"+f.spec.Token(i), strings.NewReader(body))
	r.Header.Set("Authorization", f.auth)
	r.Header.Set("Content-Type", "application/xml; charset=UTF-8")
	r.Header.Set("Accept", "application/xml")
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// BenchmarkCrowdValidateHTTP is POST /session/{token} through the whole Crowd REST handler
// (application authentication, XML in and out), cache hits, no network.
func BenchmarkCrowdValidateHTTP(b *testing.B) {
	f := setup(b, time.Hour)
	i := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, f.validateRequest(i%10))
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
}

// BenchmarkEchoHTTP is the ceiling handler of crowdgate-bench on the same request.
func BenchmarkEchoHTTP(b *testing.B) {
	f := &fixture{spec: dataset.Short()}
	body := []byte(strings.Repeat("x", 420))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Write(body)
	})
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, f.validateRequest(0))
	}
}

// BenchmarkMembershipsDocument is GET /group/membership over the short dataset (300 groups,
// 30,000 memberships).
func BenchmarkMembershipsDocument(b *testing.B) {
	f := setup(b, 0)
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://127.0.0.1/crowd/rest/usermanagement/1/group/membership", nil)
		r.Header.Set("Authorization", f.auth)
		r.Header.Set("Accept", "application/xml")
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.HasSuffix(w.Body.String(), "</memberships>") {
			b.Fatalf("status %d", w.Code)
		}
	}
}
