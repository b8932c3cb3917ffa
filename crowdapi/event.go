package crowdapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// eventsEntity is <events>: a token and, for /event/{token}, the changes in order. The list is
// polymorphic (userEvent, groupEvent, ...), so it is written by hand.
type eventsEntity struct {
	Token       string
	Incremental *bool
	Events      []any
}

type userEventEntity struct {
	XMLName   xml.Name   `xml:"userEvent" json:"-"`
	Type      string     `xml:"-" json:"type"`
	Operation string     `xml:"operation" json:"operation"`
	User      userEntity `xml:"user" json:"user"`
}

type groupEventEntity struct {
	XMLName   xml.Name    `xml:"groupEvent" json:"-"`
	Type      string      `xml:"-" json:"type"`
	Operation string      `xml:"operation" json:"operation"`
	Group     groupEntity `xml:"group" json:"group"`
}

type userMembershipEventEntity struct {
	XMLName      xml.Name     `xml:"userMembershipEvent" json:"-"`
	Type         string       `xml:"-" json:"type"`
	Operation    string       `xml:"operation" json:"operation"`
	ChildUser    childUser    `xml:"childUser" json:"childUser"`
	ParentGroups groupsEntity `xml:"parentGroups" json:"parentGroups"`
}

// childUser is a minimal user under another element name (userEntity's XMLName is "user").
type childUser struct {
	Link *link  `xml:"link" json:"link"`
	Name string `xml:"name,attr" json:"name"`
}

type groupMembershipEventEntity struct {
	XMLName      xml.Name     `xml:"groupMembershipEvent" json:"-"`
	Type         string       `xml:"-" json:"type"`
	Operation    string       `xml:"operation" json:"operation"`
	Group        groupEntity  `xml:"group" json:"group"`
	ParentGroups groupsEntity `xml:"parentGroups" json:"parentGroups"`
	ChildGroups  groupsEntity `xml:"childGroups" json:"childGroups"`
}

func (e eventsEntity) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Local: "events"}}
	if e.Incremental != nil {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "incrementalSynchronisationAvailable"}, Value: strconv.FormatBool(*e.Incremental)})
	}
	if e.Token != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "newEventToken"}, Value: e.Token})
	}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	for _, ev := range e.Events {
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

func (e eventsEntity) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if e.Token != "" {
		b.WriteString(`"newEventToken":`)
		writeJSONString(&b, e.Token)
		b.WriteByte(',')
	}
	if e.Incremental != nil {
		b.WriteString(`"incrementalSynchronisationAvailable":` + strconv.FormatBool(*e.Incremental) + ",")
	}
	evs, err := marshalJSON(e.Events)
	if err != nil {
		return nil, err
	}
	if e.Events == nil {
		evs = []byte("[]")
	}
	b.WriteString(`"events":`)
	b.Write(evs)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// incrementalAvailable: an application that sees only users with access gets full syncs only,
// as Crowd does with access-based filtering (visibility can change without an event).
func incrementalAvailable(v *store.View) bool { return !v.App.FilterByAccess }

func (s *server) currentEvent(c echo.Context) error {
	v := viewOf(c)
	if !incrementalAvailable(v) {
		f := false
		return respond(c, http.StatusOK, eventsEntity{Incremental: &f})
	}
	tok, err := s.st.CurrentEventToken(c.Request().Context(), v.App.ConfigVersion)
	if err != nil {
		return err
	}
	t := true
	return respond(c, http.StatusOK, eventsEntity{Token: tok.String(), Incremental: &t})
}

func (s *server) eventsSince(c echo.Context) error {
	ctx := c.Request().Context()
	v := viewOf(c)
	if !incrementalAvailable(v) {
		return newError(http.StatusBadRequest, IncrementalSyncNotAvailable, "incremental synchronisation is not available for this application", nil)
	}
	expired := func(err error) error {
		return newError(http.StatusGone, EventTokenExpired, "Event token has expired or is not from this server: do a full synchronisation", err)
	}
	tok, err := store.ParseEventToken(c.Param("token"))
	if err != nil {
		return expired(err)
	}
	evs, next, err := s.st.EventsSince(ctx, tok, v.App.ConfigVersion, v.Directories())
	if errors.Is(err, store.ErrTokenExpired) {
		return expired(err)
	}
	if err != nil {
		return err
	}
	out := eventsEntity{Token: next.String(), Events: []any{}}
	base, n := baseOf(c), namerOf(c)
	for _, e := range evs {
		item, err := s.eventOut(c, base, n, e)
		if err != nil {
			return err
		}
		if item != nil {
			out.Events = append(out.Events, item)
		}
	}
	return respond(c, http.StatusOK, out)
}

// eventOut renders one event. CREATED/UPDATED carry the entity as it is now; an entity deleted since
// is skipped, since a later DELETED event follows in the same answer.
func (s *server) eventOut(c echo.Context, base string, n namer, e store.Event) (any, error) {
	ctx := c.Request().Context()
	groups := func(names ...string) groupsEntity {
		g := groupsEntity{Groups: []groupEntity{}}
		for _, name := range names {
			g.Groups = append(g.Groups, minimalGroup(base, n, name))
		}
		return g
	}
	switch e.Entity {
	case store.EntityUser:
		if e.Operation == store.OpDeleted {
			return userEventEntity{Type: "userEvent", Operation: e.Operation, User: minimalUser(base, n, e.Name)}, nil
		}
		u, err := s.st.User(ctx, e.EntityID)
		if store.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return userEventEntity{Type: "userEvent", Operation: e.Operation, User: fullUser(base, n, u, nil)}, nil
	case store.EntityGroup:
		if e.Operation == store.OpDeleted {
			return groupEventEntity{Type: "groupEvent", Operation: e.Operation, Group: minimalGroup(base, n, e.Name)}, nil
		}
		g, err := s.st.Group(ctx, e.EntityID)
		if store.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if g.Name != e.Name { // renamed since: the rename's own events follow
			return nil, nil
		}
		return groupEventEntity{Type: "groupEvent", Operation: e.Operation, Group: fullGroup(base, n, g, nil)}, nil
	case store.EntityUserMembership:
		return userMembershipEventEntity{Type: "userMembershipEvent", Operation: e.Operation,
			ChildUser: childUser{Link: userLink(base, n.name(e.Name)), Name: n.name(e.Name)}, ParentGroups: groups(e.OtherName)}, nil
	case store.EntityGroupMembership:
		return groupMembershipEventEntity{Type: "groupMembershipEvent", Operation: e.Operation,
			Group: minimalGroup(base, n, e.Name), ParentGroups: groups(e.OtherName), ChildGroups: groups()}, nil
	}
	return nil, nil
}

func (s *server) registerWebhook(c echo.Context) error {
	var in webhookEntity
	if err := bind(c, &in, false); err != nil {
		return err
	}
	w, err := s.st.RegisterWebhook(c.Request().Context(), viewOf(c).App.ID, in.EndpointURL, in.Token)
	if err != nil {
		return storeError(err, IllegalArgument)
	}
	return respond(c, http.StatusCreated, webhookEntity{ID: w.ID, EndpointURL: w.EndpointURL, Token: w.Token})
}

func (s *server) webhookID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, newError(http.StatusNotFound, WebhookNotFound, "Webhook <"+c.Param("id")+"> not found", err)
	}
	return id, nil
}

func (s *server) getWebhook(c echo.Context) error {
	id, err := s.webhookID(c)
	if err != nil {
		return err
	}
	w, err := s.st.Webhook(c.Request().Context(), viewOf(c).App.ID, id)
	if store.IsNotFound(err) {
		return newError(http.StatusNotFound, WebhookNotFound, "Webhook <"+c.Param("id")+"> not found", err)
	}
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, webhookEntity{ID: w.ID, EndpointURL: w.EndpointURL})
}

func (s *server) deleteWebhook(c echo.Context) error {
	id, err := s.webhookID(c)
	if err != nil {
		return err
	}
	err = s.st.DeleteWebhook(c.Request().Context(), viewOf(c).App.ID, id)
	if store.IsNotFound(err) {
		return newError(http.StatusNotFound, WebhookNotFound, "Webhook <"+c.Param("id")+"> not found", err)
	}
	if err != nil {
		return err
	}
	return noContent(c)
}
