package crowdapi_test

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	r := e.must(req{method: "POST", path: "/user", body: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><user name="jdoe"><first-name>John</first-name><last-name>Doe</last-name><display-name>John Doe</display-name><email>jdoe@example.com</email><password><value>s3cret-pw</value></password><active>true</active><attributes><attribute name="synch.k"><values><value>v</value></values></attribute></attributes></user>`}, 201)
	t.Log(r.header.Get("Location"), r.body)
	r = e.must(req{method: "GET", path: "/user?username=JDOE&expand=attributes", accept: "application/json"}, 200)
	t.Log(r.body)
	r = e.must(req{method: "POST", path: "/authentication?username=jdoe", body: `<password><value>s3cret-pw</value></password>`}, 200)
	t.Log(r.body)
	r = e.must(req{method: "POST", path: "/session", body: `<authentication-context><username>jdoe</username><password>s3cret-pw</password><validation-factors><validation-factor><name>remote_address</name><value>10.0.0.7</value></validation-factor></validation-factors></authentication-context>`}, 201)
	t.Log(r.body)
	r = e.must(req{method: "GET", path: "/group/membership"}, 200)
	t.Log(r.body)
	r = e.must(req{method: "GET", path: "/event"}, 200)
	t.Log(r.body)
	r = e.must(req{method: "POST", path: "/search?entity-type=user&max-results=-1&expand=user", body: `<null-search-restriction/>`}, 200)
	t.Log(r.body)
	r = e.do(req{method: "GET", path: "/user?username=x", pass: "bad"})
	t.Log(r.status, r.body)
}
