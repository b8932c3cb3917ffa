package main

import (
	"bytes"
	"fmt"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/bench/loadgen"
)

var commonHeaders = []string{"Content-Type: application/xml; charset=UTF-8", "Accept: application/xml",
	"User-Agent: Apache-HttpClient/4.5.13 (Java/17.0.8)"}

func (e *env) factors(i int) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><validation-factors><validation-factor><name>remote_address</name><value>` +
		e.ips[i] + `</value></validation-factor></validation-factors>`)
}

// validateReq builds POST /session/{token} for the session pick(seq) chooses, as Seraph sends it.
func (e *env) validateReq(pick func(uint64) int) func([]byte, uint64) []byte {
	hdr := append([]string{e.auth}, commonHeaders...)
	return func(dst []byte, seq uint64) []byte {
		i := pick(seq)
		return loadgen.Request(dst, "POST", e.addr, restBase+"/session/"+e.tokens[i], hdr, e.factors(i))
	}
}

// echoReq is the same request to the echo handler.
func (e *env) echoReq(pick func(uint64) int) func([]byte, uint64) []byte {
	hdr := append([]string{e.auth}, commonHeaders...)
	return func(dst []byte, seq uint64) []byte {
		i := pick(seq)
		return loadgen.Request(dst, "POST", e.addr, "/bench/echo", hdr, e.factors(i))
	}
}

// uniform visits every session once per len(tokens) requests, in a scrambled order.
func (e *env) uniform(offset uint64) func(uint64) int { return e.uniformFrom(offset, 0) }

// uniformFrom continues the scrambled order from position start (so successive slices of one run
// visit different sessions).
func (e *env) uniformFrom(offset, start uint64) func(uint64) int {
	n := uint64(len(e.tokens))
	return func(seq uint64) int { return int(((seq+start)*2654435761 + offset) % n) }
}

// hot draws from the first hot sessions only: a working set the session cache can hold.
func (e *env) hot() func(uint64) int {
	n := uint64(min(e.o.hotTokens, len(e.tokens)))
	return func(seq uint64) int { return int((seq * 2654435761) % n) }
}

func (e *env) checkValidation(pick func(uint64) int) func(uint64, loadgen.Response) error {
	return func(seq uint64, r loadgen.Response) error {
		if r.Status != 200 {
			return fmt.Errorf("status %d", r.Status)
		}
		if !bytes.Contains(r.Body, []byte("<token>"+e.tokens[pick(seq)]+"</token>")) {
			return fmt.Errorf("answer without the token")
		}
		return nil
	}
}

func (e *env) validationTarget(pick func(uint64) int) loadgen.Target {
	return loadgen.Target{Addr: e.addr, Build: e.validateReq(pick), Check: e.checkValidation(pick), CaptureBody: true}
}

func (e *env) echoTarget() loadgen.Target {
	return loadgen.Target{Addr: e.addr, Build: e.echoReq(e.uniform(0))}
}

// verifyTarget is P3's ceiling in the server: one {PKCS5S2} verification a request.
func (e *env) verifyTarget() loadgen.Target {
	hdr := append([]string{e.auth}, commonHeaders...)
	body := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>` + benchPassword + `</value></password>`)
	return loadgen.Target{Addr: e.addr, Build: func(dst []byte, _ uint64) []byte {
		return loadgen.Request(dst, "POST", e.addr, "/bench/verify", hdr, body)
	}}
}

// authTarget signs in {PKCS5S2} users that have not logged in yet, one per request.
func (e *env) authTarget() loadgen.Target {
	hdr := append([]string{e.auth}, commonHeaders...)
	return loadgen.Target{Addr: e.addr, Build: func(dst []byte, _ uint64) []byte {
		k := e.nextPK.Add(1) - 1
		if k >= int64(len(e.pkcs)) {
			return nil
		}
		u := e.pkcs[k]
		body := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><password><value>` + e.spec.Password(u) + `</value></password>`)
		return loadgen.Request(dst, "POST", e.addr, restBase+"/authentication?username="+dataset.UserName(u), hdr, body)
	}}
}
