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
	var stack []xml.Name
	elements := 0
	sawRoot := false
	err := eachToken(b, true, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("document contains a DTD or other declaration")
		case xml.Comment:
			if !r.allowComments {
				return errors.New("document contains a comment")
			}
		case xml.ProcInst:
			if t.Target != "xml" || sawRoot || elements > 0 {
				return fmt.Errorf("document contains the processing instruction %q", t.Target)
			}
		case xml.StartElement:
			if err := wellFormedNames(t); err != nil {
				return err
			}
			elements++
			if elements > r.maxElements {
				return fmt.Errorf("document has more than %d elements", r.maxElements)
			}
			if len(stack) >= 64 {
				return errors.New("document is nested more than 64 levels deep")
			}
			if len(stack) == 0 && sawRoot {
				return errors.New("document has more than one root element")
			}
			stack = append(stack, t.Name)
			sawRoot = true
		case xml.EndElement:
			if len(stack) == 0 {
				return errors.New("malformed XML: unexpected end element")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("document has text outside its root element")
			}
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if !sawRoot {
		return info, errors.New("document is empty")
	}
	// RawToken does not resolve namespaces, so walk again with Token, which does; the first pass
	// already refused everything that could make this one expensive.
	var names []xml.Name
	var ids []string // the ID attribute of each open element
	seenIDs := map[string]bool{}
	references := 0    // in the open SignedInfo
	confirmations := 0 // in the open Subject
	err = eachToken(b, false, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			if len(names) == 0 && t.Name != r.root {
				return fmt.Errorf("root element is {%s}%s, want {%s}%s", t.Name.Space, t.Name.Local, r.root.Space, r.root.Local)
			}
			parent := xml.Name{}
			if len(names) > 0 {
				parent = names[len(names)-1]
			}
			names = append(names, t.Name)
			id := attrValue(t, "ID")
			if id != "" {
				if seenIDs[id] {
					return fmt.Errorf("ID %q appears twice", id)
				}
				seenIDs[id] = true
			}
			ids = append(ids, id)
			if err := checkSignatureShape(t, parent, names, ids, &references); err != nil {
				return err
			}
			if err := checkSubject(t, parent, &confirmations); err != nil {
				return err
			}
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
				return nil
			}
			// Only signature algorithms: the RSA-OAEP key transport of an encrypted assertion also
			// names a SHA-1 DigestMethod, which is not a signature weakness.
			if (t.Name.Local == "SignatureMethod" && parent == xml.Name{Space: nsDSig, Local: "SignedInfo"}) ||
				(t.Name.Local == "DigestMethod" && parent == xml.Name{Space: nsDSig, Local: "Reference"}) {
				for _, a := range t.Attr {
					if a.Name.Local == "Algorithm" && strings.HasSuffix(strings.ToLower(a.Value), "sha1") {
						return fmt.Errorf("signature uses SHA-1 (%s), which is not allowed", a.Value)
					}
				}
			}
		case xml.EndElement:
			names = names[:len(names)-1]
			ids = ids[:len(ids)-1]
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if err := rtvalidator.Validate(bytes.NewReader(b)); err != nil {
		return info, fmt.Errorf("document does not survive an XML round trip: %w", err)
	}
	return info, nil
}

// eachToken hands fn the tokens of b (raw: without resolving namespaces) in order, stopping at
// the first error fn returns; a document encoding/xml cannot read is malformed.
func eachToken(b []byte, raw bool, fn func(xml.Token) error) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	next := d.Token
	if raw {
		next = d.RawToken
	}
	for {
		tok, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		if err := fn(tok); err != nil {
			return err
		}
	}
}

// Signature algorithms a SAML signature may name in its SignedInfo and Reference. XPath and XSLT
// transforms, and canonicalisation with comments, are how signature-wrapping and comment
// truncation tricks get past a verifier; no IdP needs them.
var allowedTransforms = map[string]bool{
	"http://www.w3.org/2000/09/xmldsig#enveloped-signature": true,
	"http://www.w3.org/2001/10/xml-exc-c14n#":               true,
	"http://www.w3.org/TR/2001/REC-xml-c14n-20010315":       true,
	"http://www.w3.org/2006/12/xml-c14n11":                  true,
}

func attrValue(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// checkSignatureShape holds every XML signature to the one shape IdPs produce: one Reference,
// naming the element the Signature sits in by its ID, with only the enveloped-signature and
// canonicalisation transforms, and canonicalisation without comments. names and ids are the open
// elements (t last); references counts the References of the open SignedInfo.
func checkSignatureShape(t xml.StartElement, parent xml.Name, names []xml.Name, ids []string, references *int) error {
	if t.Name.Space != nsDSig {
		return nil
	}
	switch t.Name.Local {
	case "SignedInfo":
		*references = 0
	case "Reference":
		if *references++; *references > 1 {
			return errors.New("signature has more than one Reference")
		}
		// Signature/SignedInfo/Reference: the signed element is three levels up.
		n := len(names)
		if n < 4 || names[n-3] != (xml.Name{Space: nsDSig, Local: "Signature"}) {
			return errors.New("signature Reference outside a Signature's SignedInfo")
		}
		uri, signed := attrValue(t, "URI"), ids[n-4]
		if uri == "" || signed == "" || uri != "#"+signed {
			return fmt.Errorf("signature Reference URI %q does not name the element it signs (ID %q)", uri, signed)
		}
	case "Transform", "CanonicalizationMethod":
		alg := attrValue(t, "Algorithm")
		if strings.HasSuffix(alg, "#WithComments") {
			return fmt.Errorf("signature canonicalisation %q keeps comments, which is not allowed", alg)
		}
		if !allowedTransforms[alg] {
			return fmt.Errorf("signature transform %q is not allowed", alg)
		}
	}
	return nil
}

// checkSubject refuses subjects gosaml2 would read only in part: it keeps one
// SubjectConfirmation (the last) of several, and a bearer SubjectConfirmationData must not carry
// NotBefore (SAML profiles, 4.1.4.2), which gosaml2 ignores. confirmations counts the
// SubjectConfirmations of the open Subject.
func checkSubject(t xml.StartElement, parent xml.Name, confirmations *int) error {
	if t.Name.Space != nsAssertion {
		return nil
	}
	switch t.Name.Local {
	case "Subject":
		*confirmations = 0
	case "SubjectConfirmation":
		if *confirmations++; *confirmations > 1 {
			return errors.New("assertion subject has more than one SubjectConfirmation")
		}
	case "SubjectConfirmationData":
		if attrValue(t, "NotBefore") != "" {
			return errors.New("SubjectConfirmationData carries NotBefore, which a bearer confirmation must not")
		}
	}
	return nil
}

// wellFormedNames refuses element and attribute names that are not namespace-well-formed (a
// prefix or local part left empty, or more than one colon), which RawToken hands over as local
// names containing a colon: encoding/xml and etree would read such a document differently.
func wellFormedNames(t xml.StartElement) error {
	names := []xml.Name{t.Name}
	for _, a := range t.Attr {
		names = append(names, a.Name)
	}
	for _, n := range names {
		if strings.Contains(n.Local, ":") || (n.Space != "" && n.Local == "") {
			full := n.Local
			if n.Space != "" {
				full = n.Space + ":" + n.Local
			}
			return fmt.Errorf("name %q is not namespace-well-formed (a round-trip mutation?)", full)
		}
	}
	return nil
}
