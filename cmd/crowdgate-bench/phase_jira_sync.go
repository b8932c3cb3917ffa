package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
)

var eventTokenRE = regexp.MustCompile(`newEventToken="([^"]+)"`)

// jiraFullSync measures P5: Jira's full synchronisation call sequence, then GET /event/{token}
// after 100 changes.
func (e *env) jiraFullSync(ctx context.Context) error {
	l := e.spec.Layout()
	null := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><null-search-restriction/>`
	type step struct {
		name, method, path, body string
		pats                     []string
		want                     []int
	}
	steps := []step{
		{name: "GET /event", method: "GET", path: "/event", pats: []string{"newEventToken="}, want: []int{1}},
		{name: "POST /search users max-results=-1 expand=user", method: "POST", path: "/search?entity-type=user&start-index=0&max-results=-1&expand=user",
			body: null, pats: []string{"<user name="}, want: []int{e.spec.Users}},
		{name: "POST /search groups max-results=-1 expand=group", method: "POST", path: "/search?entity-type=group&start-index=0&max-results=-1&expand=group",
			body: null, pats: []string{"<group name="}, want: []int{e.spec.Groups}},
		{name: "GET /group/membership", method: "GET", path: "/group/membership", pats: []string{"<membership ", "<user name=", "<group name="},
			want: []int{e.spec.Groups, e.spec.Memberships, len(l.Edges())}},
		{name: "GET /event", method: "GET", path: "/event", pats: []string{"newEventToken="}, want: []int{1}},
	}
	s0, _ := e.child.stats()
	var total time.Duration
	var token string
	e.dr.P5 = p5Report{}
	for _, s := range steps {
		f, err := e.fetch(ctx, s.method, s.path, s.body, s.pats...)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if f.status != 200 {
			return fmt.Errorf("%s: status %d: %.300s", s.name, f.status, f.body)
		}
		for i, w := range s.want {
			if f.counts[i] != w {
				return fmt.Errorf("%s: %d × %q, want %d", s.name, f.counts[i], s.pats[i], w)
			}
		}
		if m := eventTokenRE.FindStringSubmatch(f.body); m != nil {
			token = m[1]
		}
		total += f.total
		e.dr.P5.Steps = append(e.dr.P5.Steps, p5Step{Name: s.name, MS: msf(f.total), TTFBMS: msf(f.ttfb), Bytes: f.bytes})
		fmt.Printf("P5 %-48s %8.0f ms  %6.1f MB\n", s.name, msf(f.total), float64(f.bytes)/1e6)
	}
	s1, _ := e.child.stats()
	e.dr.P5.TotalMS = msf(total)
	e.dr.P5.ServerCPUMS = msf(s1.cpu() - s0.cpu())
	fmt.Printf("P5 full sync: %.0f ms (server CPU %.0f ms)\n", e.dr.P5.TotalMS, e.dr.P5.ServerCPUMS)
	if token == "" {
		return fmt.Errorf("no event token in GET /event")
	}

	// 100 changes through the API, as Jira's own writes or another application's would come:
	// 10 new groups, 45 new memberships, 45 user updates.
	changes := 0
	do := func(method, path, body string, status int) error {
		f, err := e.fetch(ctx, method, path, body)
		if err != nil {
			return err
		}
		if f.status != status {
			return fmt.Errorf("%s %s: status %d: %.300s", method, path, f.status, f.body)
		}
		changes++
		return nil
	}
	t0 := time.Now()
	for g := 0; g < 10; g++ {
		if err := do("POST", "/group", fmt.Sprintf(`<group name="bench-new-%02d"><description>added by crowdgate-bench</description><type>GROUP</type><active>true</active></group>`, g), 201); err != nil {
			return err
		}
	}
	for k := 0; k < 45; k++ {
		u := dataset.UserName((100 + k) % e.spec.Users)
		if err := do("POST", fmt.Sprintf("/group/user/direct?groupname=bench-new-%02d", k%10), `<user name="`+u+`"/>`, 201); err != nil {
			return err
		}
	}
	for k := 0; k < 45; k++ {
		i := (1000 + k) % e.spec.Users
		u := dataset.UserName(i)
		body := fmt.Sprintf(`<user name="%s"><first-name>First%d</first-name><last-name>Last%d</last-name><display-name>Renamed %d</display-name><email>%s@example.com</email><active>true</active></user>`, u, i, i, i, u)
		if err := do("PUT", "/user?username="+u, body, 204); err != nil {
			return err
		}
	}
	e.dr.P5.ChangesMS = msf(time.Since(t0))
	var times []float64
	for i := 0; i < 5; i++ {
		f, err := e.fetch(ctx, "GET", "/event/"+token, "", "<operation>")
		if err != nil {
			return err
		}
		if f.status != 200 || f.counts[0] != changes {
			return fmt.Errorf("GET /event/{token} after %d changes: status %d, %d events: %.300s", changes, f.status, f.counts[0], f.body)
		}
		times = append(times, msf(f.total))
	}
	e.dr.P5.EventsMS = times
	sort.Float64s(times)
	fmt.Printf("P5 GET /event/{token} with %d changes: median %.1f ms, max %.1f ms (5 calls)\n", changes, times[2], times[4])
	return nil
}
