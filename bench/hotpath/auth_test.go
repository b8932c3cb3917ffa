package hotpath

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/bench/dataset"
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
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>` + dataset.Argon2Password + `</value></password>`
	i := 0
	for b.Loop() {
		r := httptest.NewRequest("POST", "http://127.0.0.1/crowd/rest/usermanagement/1/authentication?username="+
			dataset.UserName(users[i%len(users)]), strings.NewReader(body))
		r.Header.Set("Authorization", f.auth)
		r.Header.Set("Content-Type", "application/xml; charset=UTF-8")
		r.Header.Set("Accept", "application/xml")
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
}
