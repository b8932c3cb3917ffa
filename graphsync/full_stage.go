package graphsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// A full round is checkpointed while it is read: every page is staged (store.SyncStagePut) with the
// link that continues after it, so a run that fails at page 900 of 1,000 continues at page 900.
// The staged pages are read back only by a run that continues a round; an uninterrupted round keeps
// what it reads in memory as before.

// StageMaxAge is how old a staged full round may get before a run starts the round over instead of
// continuing it: Graph's next links do not live long, and an old picture of the tenant would
// replace a newer replica.
const StageMaxAge = 24 * time.Hour

// stageKey identifies what a staged round was read with: the mapping (the fingerprint) and the
// source (tenant and application). A round staged under another key is started over.
func (r *run) stageKey() string { return r.hash + "|" + r.s.cfg.SourceKey }

// stagedRound returns the staged round found at the start of a run, if any, and whether it may be
// continued (why not, otherwise).
func (s *Syncer) stagedRound(ctx context.Context, key string) (round store.SyncFullRound, ok bool, why string, err error) {
	round, ok, err = s.st.SyncStagedRound(ctx, s.dir)
	switch {
	case err != nil || !ok:
		return round, false, "", err
	case round.Key != key:
		return round, false, "the configuration or the tenant changed since the interrupted full round began", nil
	case s.now().Sub(round.StartedAt) >= StageMaxAge:
		return round, false, fmt.Sprintf("the interrupted full round began more than %s ago", StageMaxAge), nil
	}
	return round, true, "", nil
}

// openStage continues the staged full round (its pages replayed into users and groups) when there is
// one that may be continued, and otherwise begins a new one. It returns the round's checkpoint.
func (r *run) openStage(ctx context.Context, users map[string]*fullUser, groups map[string]*fullGroup) (store.SyncFullRound, error) {
	round, ok, why, err := r.s.stagedRound(ctx, r.stageKey())
	if err != nil {
		return round, err
	}
	if ok {
		r.phase("staged pages")
		err := r.s.st.SyncStagePages(ctx, r.dir.ID, store.SyncStageUsers, func(p store.SyncStagePage) error {
			var items []User
			if err := json.Unmarshal(p.Payload, (*stagedUsers)(&items)); err != nil {
				return fmt.Errorf("staged users page %d: %w", p.Seq, err)
			}
			r.addUsers(users, items)
			return nil
		})
		if err == nil {
			err = r.s.st.SyncStagePages(ctx, r.dir.ID, store.SyncStageGroups, func(p store.SyncStagePage) error {
				var items []Group
				if err := json.Unmarshal(p.Payload, (*stagedGroups)(&items)); err != nil {
					return fmt.Errorf("staged groups page %d: %w", p.Seq, err)
				}
				r.addGroups(groups, items)
				return nil
			})
		}
		if err == nil {
			r.s.log.Info("graph sync: continuing an interrupted full round", "run", r.runID, "began", round.StartedAt,
				"users_pages", round.Users.Pages, "groups_pages", round.Groups.Pages)
			return round, nil
		}
		// Unreadable staged pages: read the round again rather than fail every run.
		why = "the interrupted full round's staged pages could not be read: " + err.Error()
		clear(users)
		clear(groups)
	}
	if why != "" {
		r.restarted(why)
	}
	return r.s.st.SyncStageBegin(ctx, r.dir.ID, r.fence, r.stageKey())
}

// restarted notes in the run's report that a staged round was started over, and why.
func (r *run) restarted(why string) {
	r.s.log.Info("graph sync: starting the full round over", "run", r.runID, "reason", why)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reason = strings.TrimPrefix(r.reason+"; started over: "+why, "; ")
}

// stager writes one kind's pages in order, one transaction each, while the reader reads the next.
type stager struct {
	kind   string
	seq    int
	jobs   chan stageJob
	failed chan struct{} // closed when a page could not be staged
	done   chan struct{}
	err    error // set before failed is closed
}

type stageJob struct {
	page   store.SyncStagePage
	encode func() ([]byte, error)
}

// stageAhead is how many read pages may wait for their staging write.
const stageAhead = 4

func (r *run) newStager(ctx context.Context, kind string, cur store.SyncStageCursor) *stager {
	s := &stager{kind: kind, seq: cur.Pages, jobs: make(chan stageJob, stageAhead), failed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for j := range s.jobs {
			if s.err != nil {
				continue // drain: nothing after a page that is not staged
			}
			p, err := j.encode()
			if err == nil {
				j.page.Payload = p
				err = r.s.st.SyncStagePut(ctx, r.dir.ID, r.fence, j.page)
			} else {
				err = fmt.Errorf("stage %s page %d: %w", kind, j.page.Seq, err)
			}
			if err != nil {
				s.err = err
				close(s.failed)
			}
		}
	}()
	return s
}

// put queues a page read for staging; it fails when an earlier page could not be staged.
func (s *stager) put(ctx context.Context, items int, next, delta string, encode func() ([]byte, error)) error {
	s.seq++
	j := stageJob{page: store.SyncStagePage{Kind: s.kind, Seq: s.seq, Items: items, NextLink: next, DeltaLink: delta}, encode: encode}
	select {
	case s.jobs <- j:
		return nil
	case <-s.failed:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits for the queued pages to be staged and returns the first error.
func (s *stager) close() error {
	close(s.jobs)
	<-s.done
	return s.err
}

// The staged form of pages: compact JSON of what a full round uses. Members keep their kind and
// whether they were removed ("u…" user, "g…" group, "-…" removed, any kind); other kinds of members
// are left out, as a full round ignores them.

type stagedUsers []User

type stagedUser struct { // User's fields, with short names in JSON
	ID                       string   `json:"i"`
	UserPrincipalName        string   `json:"u,omitempty"`
	Mail                     string   `json:"m,omitempty"`
	OtherMails               []string `json:"o,omitempty"`
	GivenName                string   `json:"g,omitempty"`
	Surname                  string   `json:"s,omitempty"`
	DisplayName              string   `json:"d,omitempty"`
	MailNickname             string   `json:"n,omitempty"`
	OnPremisesSamAccountName string   `json:"a,omitempty"`
	UserType                 string   `json:"t,omitempty"`
	ExternalUserState        string   `json:"x,omitempty"`
	AccountEnabled           *bool    `json:"e,omitempty"`
	Removed                  bool     `json:"r,omitempty"`
	RemovedReason            string   `json:"rr,omitempty"`
}

func (us stagedUsers) MarshalJSON() ([]byte, error) {
	out := make([]stagedUser, len(us))
	for i, u := range us {
		out[i] = stagedUser(u)
	}
	return json.Marshal(out)
}

func (us *stagedUsers) UnmarshalJSON(b []byte) error {
	var in []stagedUser
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*us = make(stagedUsers, len(in))
	for i, u := range in {
		(*us)[i] = User(u)
	}
	return nil
}

type stagedGroups []Group

type stagedGroup struct {
	ID       string   `json:"i"`
	Display  string   `json:"d,omitempty"`
	Desc     string   `json:"c,omitempty"`
	Nick     string   `json:"n,omitempty"`
	Security bool     `json:"s,omitempty"`
	Types    []string `json:"t,omitempty"`
	Removed  bool     `json:"r,omitempty"`
	Reason   string   `json:"rr,omitempty"`
	Members  []string `json:"m,omitempty"`
}

func (gs stagedGroups) MarshalJSON() ([]byte, error) {
	out := make([]stagedGroup, len(gs))
	for i, g := range gs {
		sg := stagedGroup{ID: g.ID, Display: g.DisplayName, Desc: g.Description, Nick: g.MailNickname, Security: g.SecurityEnabled,
			Types: g.GroupTypes, Removed: g.Removed, Reason: g.RemovedReason}
		if len(g.Members) > 0 {
			sg.Members = make([]string, 0, len(g.Members))
		}
		for _, c := range g.Members {
			switch {
			case c.Removed:
				sg.Members = append(sg.Members, "-"+c.ID)
			case c.Kind == KindUser:
				sg.Members = append(sg.Members, "u"+c.ID)
			case c.Kind == KindGroup:
				sg.Members = append(sg.Members, "g"+c.ID)
			}
		}
		out[i] = sg
	}
	return json.Marshal(out)
}

func (gs *stagedGroups) UnmarshalJSON(b []byte) error {
	var in []stagedGroup
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*gs = make(stagedGroups, len(in))
	for i, sg := range in {
		g := Group{ID: sg.ID, DisplayName: sg.Display, Description: sg.Desc, MailNickname: sg.Nick, SecurityEnabled: sg.Security,
			GroupTypes: sg.Types, Removed: sg.Removed, RemovedReason: sg.Reason}
		if len(sg.Members) > 0 {
			g.Members = make([]MemberChange, 0, len(sg.Members))
		}
		for _, m := range sg.Members {
			if m == "" {
				return errors.New("staged group member without an id")
			}
			c := MemberChange{ID: m[1:]}
			switch m[0] {
			case '-':
				c.Removed = true
			case 'u':
				c.Kind = KindUser
			case 'g':
				c.Kind = KindGroup
			default:
				return fmt.Errorf("staged group member %q of an unknown kind", m)
			}
			g.Members = append(g.Members, c)
		}
		(*gs)[i] = g
	}
	return nil
}
