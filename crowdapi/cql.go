package crowdapi

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/store"
)

// parseCQL parses Crowd Query Language (docs/crowd-wire.md, "Search and CQL") into a restriction:
//
//	restriction := orExpr
//	orExpr      := andExpr ( OR andExpr )*
//	andExpr     := primary ( AND primary )*
//	primary     := '(' orExpr ')' | term op value       op := '=' | '<' | '>'
//
// Terms and values are bare strings, or quoted with " or ' (backslash escapes). An empty
// restriction matches everything. entity is store.SearchUsers or store.SearchGroups.
func parseCQL(src, entity string) (store.Restriction, error) {
	if strings.TrimSpace(src) == "" {
		return store.Restriction{}, nil
	}
	if len(src) > 8192 {
		return store.Restriction{}, fmt.Errorf("restriction is longer than 8192 characters")
	}
	toks, err := lexCQL(src)
	if err != nil {
		return store.Restriction{}, err
	}
	p := &cqlParser{toks: toks, entity: entity}
	r, err := p.or(0)
	if err != nil {
		return store.Restriction{}, err
	}
	if p.pos < len(p.toks) {
		return store.Restriction{}, fmt.Errorf("unexpected %q at position %d", p.toks[p.pos].text, p.toks[p.pos].at)
	}
	return r, nil
}

type cqlToken struct {
	kind byte // 's' string, 'o' operator (= < >), '(' or ')'
	text string
	bare bool
	at   int
}

// bareStop are the characters that end a bare string.
const bareStop = "\"'=!<>(),[]|&"

func lexCQL(src string) ([]cqlToken, error) {
	var toks []cqlToken
	i := 0
	for i < len(src) {
		r, w := utf8.DecodeRuneInString(src[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '(' || r == ')':
			toks = append(toks, cqlToken{kind: byte(r), text: string(r), at: i})
			i++
		case r == '=' || r == '<' || r == '>':
			toks = append(toks, cqlToken{kind: 'o', text: string(r), at: i})
			i++
		case r == '"' || r == '\'':
			s, n, err := unquoteCQL(src[i:], byte(r))
			if err != nil {
				return nil, fmt.Errorf("at position %d: %w", i, err)
			}
			toks = append(toks, cqlToken{kind: 's', text: s, at: i})
			i += n
		case strings.ContainsRune(bareStop, r) || unicode.IsControl(r):
			return nil, fmt.Errorf("unexpected %q at position %d", r, i)
		default:
			start := i
			for i < len(src) {
				r, w := utf8.DecodeRuneInString(src[i:])
				if unicode.IsSpace(r) || strings.ContainsRune(bareStop, r) || unicode.IsControl(r) {
					break
				}
				i += w
			}
			toks = append(toks, cqlToken{kind: 's', text: src[start:i], bare: true, at: start})
		}
	}
	return toks, nil
}

// unquoteCQL reads a quoted string starting at s[0] == q and returns its value and length.
func unquoteCQL(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unfinished escape")
			}
			i++
			switch s[i] {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case '"', '\'', '\\', ' ':
				b.WriteByte(s[i])
			case 'u':
				if i+4 >= len(s) {
					return "", 0, fmt.Errorf("short \\u escape")
				}
				n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
				if err != nil {
					return "", 0, fmt.Errorf("bad \\u escape %q", s[i+1:i+5])
				}
				b.WriteRune(rune(n))
				i += 4
			default:
				return "", 0, fmt.Errorf("unknown escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted string")
}

type cqlParser struct {
	toks   []cqlToken
	pos    int
	entity string
}

const maxCQLDepth = 32

func (p *cqlParser) keyword(word string) bool {
	if p.pos < len(p.toks) && p.toks[p.pos].kind == 's' && p.toks[p.pos].bare && strings.EqualFold(p.toks[p.pos].text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *cqlParser) or(depth int) (store.Restriction, error) {
	return p.chain(depth, "OR", store.Or, p.and)
}

func (p *cqlParser) and(depth int) (store.Restriction, error) {
	return p.chain(depth, "AND", store.And, p.primary)
}

func (p *cqlParser) chain(depth int, word string, logic store.Logic, next func(int) (store.Restriction, error)) (store.Restriction, error) {
	first, err := next(depth)
	if err != nil {
		return store.Restriction{}, err
	}
	parts := []store.Restriction{first}
	for p.keyword(word) {
		r, err := next(depth)
		if err != nil {
			return store.Restriction{}, err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return first, nil
	}
	return store.Restriction{Logic: logic, Children: parts}, nil
}

func (p *cqlParser) primary(depth int) (store.Restriction, error) {
	if depth > maxCQLDepth {
		return store.Restriction{}, fmt.Errorf("restriction nested deeper than %d", maxCQLDepth)
	}
	if p.pos >= len(p.toks) {
		return store.Restriction{}, fmt.Errorf("restriction ends too early")
	}
	t := p.toks[p.pos]
	if t.kind == '(' {
		p.pos++
		r, err := p.or(depth + 1)
		if err != nil {
			return store.Restriction{}, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != ')' {
			return store.Restriction{}, fmt.Errorf("missing ) for ( at position %d", t.at)
		}
		p.pos++
		return r, nil
	}
	if t.kind != 's' || p.pos+2 >= len(p.toks) {
		return store.Restriction{}, fmt.Errorf("expected property, operator and value at position %d", t.at)
	}
	op, val := p.toks[p.pos+1], p.toks[p.pos+2]
	if op.kind != 'o' || val.kind != 's' {
		return store.Restriction{}, fmt.Errorf("expected property, operator and value at position %d", t.at)
	}
	p.pos += 3
	prop := t.text
	if !store.KnownProperty(p.entity, prop) {
		//lint:ignore ST1005 Crowd's own wording, sent to the client as is
		return store.Restriction{}, fmt.Errorf("Unknown type for property: %s", prop)
	}
	r := store.Restriction{Property: prop, Value: val.text}
	switch op.text {
	case "<":
		r.Mode = store.LessThan
	case ">":
		r.Mode = store.GreaterThan
	default:
		r.Mode = store.ExactlyMatches
		v := val.text
		switch {
		case len(v) >= 2 && strings.HasPrefix(v, "*") && strings.HasSuffix(v, "*"):
			r.Mode, r.Value = store.Contains, v[1:len(v)-1]
		case strings.HasSuffix(v, "*"):
			r.Mode, r.Value = store.StartsWith, strings.TrimSuffix(v, "*")
		case strings.HasPrefix(v, "*"):
			r.Value = strings.TrimPrefix(v, "*") // a lone leading * is dropped, as Crowd does
		}
	}
	return r, nil
}
