package fakegraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
)

// Client is a graphsync.Source that reads a Server with net/http and encoding/json only, so that
// graphsync's own tests (the syncer's) do not link the Graph SDK. It keeps the contract of the SDK
// source in graphsync/msgraph (which has its own tests against this fake): the same $select, a
// page size asked for with Prefer, links followed verbatim and only on the server's host, 410 and
// syncStateNotFound as graphsync.ErrDeltaExpired, 429/503/504 retried and then a
// *graphsync.ThrottledError, and a body that does not parse as an error saying "decode".
type Client struct {
	base        *url.URL
	token       string
	PageSize    int // asked for with "Prefer: odata.maxpagesize"; 0: the server's choice
	MaxAttempts int // requests per page while throttled; default 5
}

var _ graphsync.Source = (*Client)(nil)

// Client returns a Client for s with its token.
func (s *Server) Client() *Client {
	u, _ := url.Parse(s.BaseURL())
	return &Client{base: u, token: s.opts.Token}
}

// UsersDelta reads one page of a users delta round.
func (c *Client) UsersDelta(ctx context.Context, link string) (graphsync.Page[graphsync.User], error) {
	var body struct {
		Value []struct {
			graphsync.User
			Removed *removed `json:"@removed"`
		} `json:"value"`
		pageLinks
	}
	if err := c.get(ctx, "users delta", link, "users", graphsync.UserProperties, &body); err != nil {
		return graphsync.Page[graphsync.User]{}, err
	}
	page := graphsync.Page[graphsync.User]{NextLink: body.Next, DeltaLink: body.Delta}
	for _, v := range body.Value {
		u := v.User
		if v.Removed != nil {
			u.Removed, u.RemovedReason = true, v.Removed.Reason
		}
		page.Items = append(page.Items, u)
	}
	return page, nil
}

// GroupsDelta reads one page of a groups delta round with members@delta.
func (c *Client) GroupsDelta(ctx context.Context, link string) (graphsync.Page[graphsync.Group], error) {
	var body struct {
		Value []struct {
			graphsync.Group
			Removed *removed `json:"@removed"`
			Members []struct {
				ID      string   `json:"id"`
				Type    string   `json:"@odata.type"`
				Removed *removed `json:"@removed"`
			} `json:"members@delta"`
		} `json:"value"`
		pageLinks
	}
	if err := c.get(ctx, "groups delta", link, "groups", graphsync.GroupProperties, &body); err != nil {
		return graphsync.Page[graphsync.Group]{}, err
	}
	page := graphsync.Page[graphsync.Group]{NextLink: body.Next, DeltaLink: body.Delta}
	for _, v := range body.Value {
		g := v.Group
		g.Members = nil
		if v.Removed != nil {
			g.Removed, g.RemovedReason = true, v.Removed.Reason
		}
		for _, m := range v.Members {
			kind := strings.TrimPrefix(strings.TrimPrefix(m.Type, "#"), "microsoft.graph.")
			g.Members = append(g.Members, graphsync.MemberChange{ID: m.ID, Kind: kind, Removed: m.Removed != nil})
		}
		page.Items = append(page.Items, g)
	}
	return page, nil
}

type removed struct {
	Reason string `json:"reason"`
}

type pageLinks struct {
	Next  string `json:"@odata.nextLink"`
	Delta string `json:"@odata.deltaLink"`
}

func (l pageLinks) links() pageLinks { return l }

// get reads one page into out, retrying throttled answers.
func (c *Client) get(ctx context.Context, op, link, name string, props []string, out any) error {
	if link == "" {
		link = c.base.String() + "/" + name + "/delta?$select=" + strings.Join(props, ",")
	} else if u, err := url.Parse(link); err != nil || u.Host != c.base.Host {
		return fmt.Errorf("fakegraph client: %s: link %q is not on %s: %w", op, link, c.base.Host, graphsync.ErrDeltaExpired)
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
		if err != nil {
			return fmt.Errorf("fakegraph client: %s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if c.PageSize > 0 {
			req.Header.Set("Prefer", "odata.maxpagesize="+strconv.Itoa(c.PageSize))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("fakegraph client: %s: %w", op, err)
		}
		err = c.answer(op, resp, out)
		resp.Body.Close()
		var te *graphsync.ThrottledError
		if !errors.As(err, &te) {
			return err
		}
		if te.Attempts = attempt; attempt >= attempts {
			return te
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fakegraph client: %s: %w", op, ctx.Err())
		case <-time.After(te.RetryAfter):
		}
	}
}

// answer decodes a page or turns an error answer into the error the SDK source would return.
func (c *Client) answer(op string, resp *http.Response, out any) error {
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("fakegraph client: %s: decode HTTP 200 response: %w", op, err)
		}
		links := out.(interface{ links() pageLinks }).links()
		if (links.Next == "") == (links.Delta == "") {
			return fmt.Errorf("fakegraph client: %s: page needs exactly one of @odata.nextLink and @odata.deltaLink", op)
		}
		return nil
	}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env) // a gateway's HTML leaves the code empty
	gerr := fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, env.Error.Code, env.Error.Message)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		wait, _ := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64)
		return &graphsync.ThrottledError{Op: op, Status: resp.StatusCode,
			RetryAfter: time.Duration(wait * float64(time.Second)), Err: gerr}
	}
	if resp.StatusCode == http.StatusGone || env.Error.Code == "syncStateNotFound" || env.Error.Code == "resyncRequired" {
		return fmt.Errorf("fakegraph client: %s: %w: %w", op, graphsync.ErrDeltaExpired, gerr)
	}
	return fmt.Errorf("fakegraph client: %s: %w", op, gerr)
}
