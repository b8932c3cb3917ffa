package crowdapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds every wire type. Field order is Crowd's element order (XML) and key order (JSON);
// where the two disagree a second, encoding-specific field carries the value.

// link is Crowd's <link rel="self" href="..."/>; JSON {"href":...,"rel":...} as the live server sends.
type link struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
}

func (l link) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"href":`)
	writeJSONString(&b, l.Href)
	b.WriteString(`,"rel":`)
	writeJSONString(&b, l.Rel)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (l *link) UnmarshalJSON(data []byte) error {
	var v struct{ Rel, Href string }
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	l.Rel, l.Href = v.Rel, v.Href
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := marshalJSON(s)
	b.Write(enc)
}

// crowdTime is a date: xsd:dateTime with milliseconds in XML, epoch milliseconds in JSON.
type crowdTime struct{ time.Time }

const xmlTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func newTime(t time.Time) *crowdTime {
	if t.IsZero() {
		return nil
	}
	return &crowdTime{t.UTC()}
}

func (t crowdTime) MarshalText() ([]byte, error) { return []byte(t.UTC().Format(xmlTimeLayout)), nil }

func (t *crowdTime) UnmarshalText(b []byte) error {
	for _, l := range []string{time.RFC3339Nano, xmlTimeLayout, "2006-01-02T15:04:05.000-0700"} {
		if v, err := time.Parse(l, string(b)); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("%q is not an xsd:dateTime", b)
}

func (t crowdTime) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, t.UnixMilli(), 10), nil
}

func (t *crowdTime) UnmarshalJSON(b []byte) error {
	if ms, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date must be epoch milliseconds or an ISO string")
	}
	return t.UnmarshalText([]byte(s))
}

// flexBool reads true/false also when a client sends it as a string ("true"), as some do.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(strings.ToLower(string(b)), `"`) {
	case "true":
		*f = true
	case "false", "null", "":
		*f = false
	default:
		return fmt.Errorf("%s is not a boolean", b)
	}
	return nil
}

func (f *flexBool) UnmarshalText(b []byte) error {
	switch strings.ToLower(strings.TrimSpace(string(b))) {
	case "true":
		*f = true
	case "false", "":
		*f = false
	default:
		return fmt.Errorf("%q is not a boolean", b)
	}
	return nil
}

func boolPtr(b bool) *flexBool { f := flexBool(b); return &f }

// passwordEntity is <password><link rel="edit"/></password> out and <password><value>pw</value></password> in.
type passwordEntity struct {
	Link  *link   `xml:"link,omitempty" json:"link,omitempty"`
	Value *string `xml:"value,omitempty" json:"value,omitempty"`
}

type attributeEntity struct {
	Link   *link    `xml:"link,omitempty" json:"link,omitempty"`
	Name   string   `xml:"name,attr" json:"name"`
	Values []string `xml:"values>value" json:"values"`
}

type attributesEntity struct {
	XMLName    xml.Name          `xml:"attributes" json:"-"`
	Attributes []attributeEntity `xml:"attribute" json:"attributes"`
	Link       *link             `xml:"link,omitempty" json:"link,omitempty"`
}

// UnmarshalJSON accepts Crowd's "attributes" and Crowd 6's "attribute" list keys.
func (a *attributesEntity) UnmarshalJSON(b []byte) error {
	var v struct {
		Attributes []attributeEntity `json:"attributes"`
		Attribute  []attributeEntity `json:"attribute"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	a.Attributes = append(v.Attributes, v.Attribute...)
	return nil
}

type userEntity struct {
	XMLName           xml.Name          `xml:"user" json:"-"`
	Expand            string            `xml:"-" json:"expand,omitempty"`
	Link              *link             `xml:"link,omitempty" json:"link,omitempty"`
	Name              string            `xml:"name,attr" json:"name"`
	ExpandXML         string            `xml:"expand,attr,omitempty" json:"-"`
	FirstName         *string           `xml:"first-name,omitempty" json:"first-name,omitempty"`
	LastName          *string           `xml:"last-name,omitempty" json:"last-name,omitempty"`
	DisplayName       *string           `xml:"display-name,omitempty" json:"display-name,omitempty"`
	Email             *string           `xml:"email,omitempty" json:"email,omitempty"`
	Password          *passwordEntity   `xml:"password,omitempty" json:"password,omitempty"`
	EncryptedPassword *passwordEntity   `xml:"encrypted-password,omitempty" json:"encrypted-password,omitempty"`
	Key               string            `xml:"key,omitempty" json:"key,omitempty"`
	CreatedDate       *crowdTime        `xml:"created-date,omitempty" json:"created-date,omitempty"`
	UpdatedDate       *crowdTime        `xml:"updated-date,omitempty" json:"updated-date,omitempty"`
	Active            *flexBool         `xml:"active,omitempty" json:"active,omitempty"`
	Attributes        *attributesEntity `xml:"attributes,omitempty" json:"attributes,omitempty"`
}

type groupEntity struct {
	XMLName     xml.Name          `xml:"group" json:"-"`
	Expand      string            `xml:"-" json:"expand,omitempty"`
	Link        *link             `xml:"link,omitempty" json:"link,omitempty"`
	Name        string            `xml:"name,attr" json:"name"`
	ExpandXML   string            `xml:"expand,attr,omitempty" json:"-"`
	Description *string           `xml:"description" json:"description,omitempty"`
	Type        string            `xml:"type,omitempty" json:"type,omitempty"`
	Active      *flexBool         `xml:"active,omitempty" json:"active,omitempty"`
	Attributes  *attributesEntity `xml:"attributes,omitempty" json:"attributes,omitempty"`
}

// MarshalXML omits <description> on minimal groups, whose Description is nil.
func (g groupEntity) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain groupEntity
	if g.Description == nil {
		type minimal struct {
			XMLName   xml.Name `xml:"group"`
			Link      *link    `xml:"link,omitempty"`
			Name      string   `xml:"name,attr"`
			ExpandXML string   `xml:"expand,attr,omitempty"`
		}
		return e.Encode(minimal{Link: g.Link, Name: g.Name, ExpandXML: g.ExpandXML})
	}
	start.Name = xml.Name{Local: "group"}
	return e.EncodeElement(plain(g), start)
}

type groupsEntity struct {
	Expand    string        `xml:"expand,attr,omitempty" json:"expand,omitempty"`
	Groups    []groupEntity `xml:"group" json:"groups"`
	Alternate []groupEntity `xml:"-" json:"group,omitempty"`
}

type errorEntity struct {
	XMLName xml.Name `xml:"error" json:"-"`
	Reason  Reason   `xml:"reason" json:"reason"`
	Message string   `xml:"message" json:"message"`
}

type renameEntity struct {
	XMLName xml.Name `xml:"rename" json:"-"`
	NewName string   `xml:"new-name" json:"new-name"`
}

type cookieConfigEntity struct {
	XMLName xml.Name `xml:"cookie-config" json:"-"`
	Domain  string   `xml:"domain" json:"domain"`
	Secure  bool     `xml:"secure" json:"secure"`
	Name    string   `xml:"name" json:"name"`
}

type validationFactor struct {
	Name  string `xml:"name" json:"name"`
	Value string `xml:"value" json:"value"`
}

type validationFactorsEntity struct {
	XMLName xml.Name           `xml:"validation-factors" json:"-"`
	Factors []validationFactor `xml:"validation-factor" json:"validationFactors"`
}

// UnmarshalJSON accepts "validationFactors" and Crowd 6's "validation-factor".
func (v *validationFactorsEntity) UnmarshalJSON(b []byte) error {
	var w struct {
		A []validationFactor `json:"validationFactors"`
		B []validationFactor `json:"validation-factor"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	v.Factors = append(w.A, w.B...)
	return nil
}

type authContextEntity struct {
	XMLName  xml.Name                 `xml:"authentication-context" json:"-"`
	Username string                   `xml:"username" json:"username"`
	UserName string                   `xml:"-" json:"userName"` // Crowd 6 spelling
	Password *string                  `xml:"password" json:"password"`
	Factors  *validationFactorsEntity `xml:"validation-factors" json:"validation-factors"`
}

type sessionEntity struct {
	XMLName     xml.Name    `xml:"session" json:"-"`
	Expand      string      `xml:"expand,attr" json:"expand"`
	Token       string      `xml:"token" json:"token"`
	User        *userEntity `xml:"user" json:"user"`
	Link        *link       `xml:"link" json:"link"`
	CreatedDate *crowdTime  `xml:"created-date,omitempty" json:"created-date,omitempty"`
	ExpiryDate  *crowdTime  `xml:"expiry-date,omitempty" json:"expiry-date,omitempty"`
}

type webhookEntity struct {
	XMLName     xml.Name `xml:"webhook" json:"-"`
	ID          int64    `xml:"id,omitempty" json:"id,omitempty"`
	EndpointURL string   `xml:"endpointUrl" json:"endpointUrl"`
	Token       string   `xml:"token,omitempty" json:"token,omitempty"`
}
