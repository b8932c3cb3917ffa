package hotpath

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/store/password"
)

// BenchmarkCrowdAuthenticateHTTP is POST /authentication (a password login, P3's request) through
// the whole Crowd REST handler, for users with the argon2id credential (the {PKCS5S2} ones are
// re-hashed on success, which would change the cost mid-run).
func BenchmarkCrowdAuthenticateHTTP(b *testing.B) {
	f := setup(b, 0)
	var users []int
	for i := 0; i < f.spec.Users && len(users) < 50; i++ {
		if !f.spec.HasPKCS5S2(i) {
			users = append(users, i)
		}
	}
	i := 0
	for b.Loop() {
		f.authenticate(b, users[i%len(users)], dataset.Argon2Password)
		i++
	}
}

// BenchmarkCrowdAuthenticatePKCS5S2 is P3's request: POST /authentication of a {PKCS5S2} user on
// the first login, through the whole Crowd REST handler, one fresh user per iteration. Set it beside
// BenchmarkPKCS5S2Verify: the difference is what a login costs beyond its hash. (The upgrade to
// argon2id after a successful login is paced to a small share of the pool, so at most one or two
// iterations of a run pay for it.)
func BenchmarkCrowdAuthenticatePKCS5S2(b *testing.B) {
	f := setup(b, 0)
	var users []int
	for i := 0; i < f.spec.Users; i++ {
		if f.spec.HasPKCS5S2(i) {
			users = append(users, i)
		}
	}
	n := 0
	for b.Loop() {
		if n == len(users) {
			b.Fatalf("more than %d iterations: out of fresh {PKCS5S2} users", len(users))
		}
		u := users[n]
		n++
		f.authenticate(b, u, f.spec.Password(u))
	}
}

// authenticate is one POST /authentication of user through the whole Crowd REST handler; anything
// but 200 fails the benchmark.
func (f *fixture) authenticate(b *testing.B, user int, pw string) {
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>` + pw + `</value></password>`
	r := httptest.NewRequest("POST", "http://127.0.0.1/crowd/rest/usermanagement/1/authentication?username="+
		dataset.UserName(user), strings.NewReader(body))
	r.Header.Set("Authorization", f.auth)
	r.Header.Set("Content-Type", "application/xml; charset=UTF-8")
	r.Header.Set("Accept", "application/xml")
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// BenchmarkPKCS5S2Verify is one {PKCS5S2} verification: P3's ceiling.
func BenchmarkPKCS5S2Verify(b *testing.B) {
	cred, err := dataset.PKCS5S2("bench-pw-000", []byte("0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := password.Verify(cred, "bench-pw-000"); !ok || err != nil {
			b.Fatalf("verify: %v %v", ok, err)
		}
	}
}
