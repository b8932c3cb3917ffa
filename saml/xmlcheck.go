package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	rtvalidator "github.com/mattermost/xml-roundtrip-validator"
)

// XML namespaces of SAML and XML Signature.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// scanRules say what a document may contain.
type scanRules struct {
	root          xml.Name // required root element
	allowComments bool     // metadata may carry comments; SAML messages may not
	allowSHA1     bool
	maxElements   int
}

// scanInfo is what a scan learnt about a document.
type scanInfo struct {
	assertions int // Assertion and EncryptedAssertion elements anywhere in the document
	encrypted  int // of which EncryptedAssertion
	// assertionSigned: an Assertion has a Signature child. Whether it verifies is gosaml2's
	// business; this only tells a signed assertion inside a signed response from an unsigned one.
	assertionSigned bool
}

// scanXML checks a document before any SAML library sees it. It refuses what an IdP never sends
// and attackers do: DTDs and entity declarations (XXE, billion laughs), comments (a comment
// splits a NameID into text nodes that canonicalisation joins again), processing instructions,
// deep nesting, too many elements, SHA-1 signatures or digests, and documents that encoding/xml
// does not read back the way it wrote them (round-trip mutations). It also counts assertions
// wherever they hide (signature wrapping moves them into Extensions, Object or another
// Assertion).
func scanXML(b []byte, r scanRules) (scanInfo, error) {
	var info scanInfo
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var stack []xml.Name
	elements := 0
	sawRoot := false
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return info, errors.New("document contains a DTD or other declaration")
		case xml.Comment:
			if !r.allowComments {
				return info, errors.New("document contains a comment")
			}
		case xml.ProcInst:
			if t.Target != "xml" || sawRoot || elements > 0 {
				return info, fmt.Errorf("document contains the processing instruction %q", t.Target)
			}
		case xml.StartElement:
			elements++
			if elements > r.maxElements {
				return info, fmt.Errorf("document has more than %d elements", r.maxElements)
			}
			if len(stack) >= 64 {
				return info, errors.New("document is nested more than 64 levels deep")
			}
			if len(stack) == 0 && sawRoot {
				return info, errors.New("document has more than one root element")
			}
			stack = append(stack, t.Name)
			sawRoot = true
		case xml.EndElement:
			if len(stack) == 0 {
				return info, errors.New("malformed XML: unexpected end element")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return info, errors.New("document has text outside its root element")
			}
		}
	}
	if !sawRoot {
		return info, errors.New("document is empty")
	}
	// RawToken does not resolve namespaces, so walk again with Token, which does; the first pass
	// already refused everything that could make this one expensive.
	d = xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var names []xml.Name
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(names) == 0 && t.Name != r.root {
				return info, fmt.Errorf("root element is {%s}%s, want {%s}%s", t.Name.Space, t.Name.Local, r.root.Space, r.root.Local)
			}
			parent := xml.Name{}
			if len(names) > 0 {
				parent = names[len(names)-1]
			}
			names = append(names, t.Name)
			if t.Name.Space == nsAssertion && (t.Name.Local == "Assertion" || t.Name.Local == "EncryptedAssertion") {
				info.assertions++
				if t.Name.Local == "EncryptedAssertion" {
					info.encrypted++
				}
			}
			if (t.Name == xml.Name{Space: nsDSig, Local: "Signature"} && parent == xml.Name{Space: nsAssertion, Local: "Assertion"}) {
				info.assertionSigned = true
			}
			if r.allowSHA1 || t.Name.Space != nsDSig {
				continue
			}
			// Only signature algorithms: the RSA-OAEP key transport of an encrypted assertion also
			// names a SHA-1 DigestMethod, which is not a signature weakness.
			if (t.Name.Local == "SignatureMethod" && parent == xml.Name{Space: nsDSig, Local: "SignedInfo"}) ||
				(t.Name.Local == "DigestMethod" && parent == xml.Name{Space: nsDSig, Local: "Reference"}) {
				for _, a := range t.Attr {
					if a.Name.Local == "Algorithm" && strings.HasSuffix(strings.ToLower(a.Value), "sha1") {
						return info, fmt.Errorf("signature uses SHA-1 (%s), which is not allowed", a.Value)
					}
				}
			}
		case xml.EndElement:
			names = names[:len(names)-1]
		}
	}
	if err := rtvalidator.Validate(bytes.NewReader(b)); err != nil {
		return info, fmt.Errorf("document does not survive an XML round trip: %w", err)
	}
	return info, nil
}
