package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/bench/loadgen"
)

// smoke checks every request the benchmark sends works once, before measuring anything: a broken
// tool must fail loudly rather than measure error pages.
func (e *env) smoke(ctx context.Context) error {
	conn, err := loadgen.Dial(e.addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	var body []byte
	do := func(what string, req []byte, status int, want string) error {
		body = body[:0]
		r, err := conn.Do(req, &body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if r.Status != status || !bytes.Contains(body, []byte(want)) {
			return fmt.Errorf("%s: status %d, body %.300q (want %d with %q)", what, r.Status, body, status, want)
		}
		return nil
	}
	last := len(e.tokens) - 1
	if err := do("echo", e.echoReq(func(uint64) int { return 0 })(nil, 0), 200, "<session"); err != nil {
		return err
	}
	u := dataset.UserName(e.spec.SessionUser(last))
	if err := do("session validation", e.validateReq(func(uint64) int { return last })(nil, 0), 200, `name="`+u+`"`); err != nil {
		return err
	}
	bad := loadgen.Request(nil, "POST", e.addr, restBase+"/session/NoSuchTokenNoSuchToken00", append([]string{e.auth}, commonHeaders...), e.factors(0))
	if err := do("unknown token", bad, 404, "INVALID_SSO_TOKEN"); err != nil {
		return err
	}
	hdr := append([]string{e.auth}, commonHeaders...)
	pw := loadgen.Request(nil, "POST", e.addr, restBase+"/authentication?username="+dataset.UserName(e.smokePK), hdr,
		[]byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>`+e.spec.Password(e.smokePK)+`</value></password>`))
	if err := do("{PKCS5S2} authentication", pw, 200, `name="`+dataset.UserName(e.smokePK)+`"`); err != nil {
		return err
	}
	fmt.Println("smoke test passed: echo, validation, unknown token, {PKCS5S2} authentication")
	return nil
}
