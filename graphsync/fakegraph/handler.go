package fakegraph

import (
	"net/http"
	"strconv"
	"strings"
)

// delta serves one page of a users ('u') or groups ('g') delta round.
func (s *Server) delta(w http.ResponseWriter, r *http.Request, kind byte) {
	name, typ := "users", "user"
	if kind == 'g' {
		name, typ = "groups", "group"
	}
	q := r.URL.Query()
	for _, opt := range []string{"$top", "$skip", "$orderby", "$expand", "$search", "$count", "$filter"} {
		if q.Has(opt) {
			writeError(w, http.StatusBadRequest, "Request_BadRequest",
				"The query option '"+opt+"' is not supported with delta by fakegraph.")
			return
		}
	}
	base := s.linkBase(r)
	n, preferred := s.pageSize(r)

	t := s.tenant
	t.mu.RLock()
	defer t.mu.RUnlock()
	var c cursor
	var err error
	switch skip, delta := q.Get("$skiptoken"), q.Get("$deltatoken"); {
	case skip != "":
		c, err = decodeCursor(skip, kind)
	case delta == "latest": // "sync from now": only a deltaLink
		mask, err := s.selectMask(q.Get("$select"), kind, typ)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		s.writePage(w, base, name, nil, nil, cursor{kind: kind, epoch: t.epoch, start: t.seq, mask: mask}, preferred, n)
		return
	case delta != "":
		c, err = decodeCursor(delta, kind)
		// The next round reports what changed after the previous one started.
		c = cursor{kind: kind, epoch: c.epoch, since: c.start, start: t.seq, mask: c.mask}
	default: // no token, or the empty $deltatoken of a 410's Location: a full round
		mask, err := s.selectMask(q.Get("$select"), kind, typ)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		c = cursor{kind: kind, epoch: t.epoch, full: true, start: t.seq, mask: mask}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "Request_BadRequest", "The delta or skip token is malformed.")
		return
	}
	if c.epoch != t.epoch {
		w.Header().Set("Location", base+"/"+name+"/delta?$deltatoken=")
		writeError(w, http.StatusGone, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
		return
	}
	var items []byte
	var next *cursor
	o := pageOpts{chunk: s.opts.MemberChunk, repeat: s.opts.RepeatObjects, spread: s.opts.SpreadChunks,
		removedInFull: s.opts.RemovedInFullRounds}
	if kind == 'u' {
		items, next = t.usersPage(make([]byte, 0, 256*n), c, n, o)
	} else {
		items, next = t.groupsPage(make([]byte, 0, 256*n), c, n, o)
	}
	s.writePage(w, base, name, items, next, cursor{kind: kind, epoch: c.epoch, start: c.start, mask: c.mask}, preferred, n)
}

func (s *Server) selectMask(raw string, kind byte, typ string) (uint32, error) {
	if kind == 'u' {
		return parseSelect(raw, userProps, defaultUserMask, typ)
	}
	return parseSelect(raw, groupProps, defaultGroupMask, typ)
}

// linkBase is the service root for the links of a page: the host the request came to, or
// Options.LinkHostname on the same port (another host the client must accept).
func (s *Server) linkBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if s.opts.LinkHostname != "" {
		_, port, _ := strings.Cut(r.Host, ":")
		host = s.opts.LinkHostname + ":" + port
	}
	return scheme + "://" + host + "/v1.0"
}

// writePage writes {"@odata.context", "@odata.nextLink" or "@odata.deltaLink", "value"}.
func (s *Server) writePage(w http.ResponseWriter, base, name string, items []byte, next *cursor, done cursor, preferred bool, n int) {
	b := make([]byte, 0, len(items)+512)
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, base+"/$metadata#"+name)
	if next != nil {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, base+"/"+name+"/delta?$skiptoken="+next.encode())
	} else {
		b = append(b, `,"@odata.deltaLink":`...)
		b = appendString(b, base+"/"+name+"/delta?$deltatoken="+done.encode())
	}
	b = append(b, `,"value":[`...)
	b = append(b, items...)
	b = append(b, "]}"...)
	if preferred {
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(n))
	}
	writeJSON(w, http.StatusOK, b)
}
