package store

import (
	"fmt"
	"strings"
	"time"
)

// Logic combines child restrictions.
type Logic string

// Boolean logics of a restriction.
const (
	And Logic = "AND"
	Or  Logic = "OR"
)

// MatchMode is how a property term compares (Crowd's MatchMode).
type MatchMode string

// Match modes.
const (
	ExactlyMatches     MatchMode = "EXACTLY_MATCHES"
	StartsWith         MatchMode = "STARTS_WITH"
	EndsWith           MatchMode = "ENDS_WITH"
	Contains           MatchMode = "CONTAINS"
	LessThan           MatchMode = "LESS_THAN"
	LessThanOrEqual    MatchMode = "LESS_THAN_OR_EQUAL"
	GreaterThan        MatchMode = "GREATER_THAN"
	GreaterThanOrEqual MatchMode = "GREATER_THAN_OR_EQUAL"
	IsNull             MatchMode = "NULL"
)

// Restriction is a search condition: a boolean combination (Logic set), a property term (Property
// set), or, when neither is set, "everything".
type Restriction struct {
	Logic    Logic
	Children []Restriction
	Property string
	Mode     MatchMode
	Value    string // as the client sent it; typed by the property (STRING, BOOLEAN or DATE)
}

// MaxRestrictionDepth bounds nesting of boolean restrictions.
const MaxRestrictionDepth = 16

// Entity kinds a search can return.
const (
	SearchUsers  = "user"
	SearchGroups = "group"
)

type propType int

const (
	propString propType = iota
	propBool
	propDate
)

type column struct {
	expr  string // SQL expression over alias e
	lower bool   // compared lower-cased
	typ   propType
}

var userProps = map[string]column{
	"name":        {"e.lower_name", true, propString},
	"email":       {"e.lower_email", true, propString},
	"firstname":   {"LOWER(e.first_name)", true, propString},
	"lastname":    {"LOWER(e.last_name)", true, propString},
	"displayname": {"e.lower_display_name", true, propString},
	"active":      {"e.active", false, propBool},
	"createddate": {"e.created_at", false, propDate},
	"updateddate": {"e.updated_at", false, propDate},
	"externalid":  {"e.external_id", false, propString},
	"key":         {"e.external_id", false, propString},
}

var groupProps = map[string]column{
	"name":        {"e.lower_name", true, propString},
	"description": {"LOWER(e.description)", true, propString},
	"active":      {"e.active", false, propBool},
	"createddate": {"e.created_at", false, propDate},
	"updateddate": {"e.updated_at", false, propDate},
	"externalid":  {"e.external_id", false, propString},
	"local":       {"0", false, propBool}, // no group is "local" to crowdgate's directories
}

// KnownProperty reports whether property names a built-in property of the entity kind.
func KnownProperty(entity, property string) bool {
	props := userProps
	if entity == SearchGroups {
		props = groupProps
	}
	_, ok := props[strings.ToLower(property)]
	return ok
}

// sqlFor translates r into a SQL condition over alias e. Unknown STRING properties are custom
// attributes, as in Crowd's internal directory.
func sqlFor(r Restriction, entity string, depth int) (string, []any, error) {
	if depth > MaxRestrictionDepth {
		return "", nil, fmt.Errorf("search restriction nested deeper than %d: %w", MaxRestrictionDepth, ErrInvalid)
	}
	switch {
	case r.Logic != "":
		op := strings.ToUpper(string(r.Logic))
		if op != string(And) && op != string(Or) {
			return "", nil, fmt.Errorf("boolean logic %q is not AND or OR: %w", r.Logic, ErrInvalid)
		}
		if len(r.Children) == 0 {
			return "1=1", nil, nil
		}
		var parts []string
		var args []any
		for _, c := range r.Children {
			p, a, err := sqlFor(c, entity, depth+1)
			if err != nil {
				return "", nil, err
			}
			parts = append(parts, "("+p+")")
			args = append(args, a...)
		}
		return strings.Join(parts, " "+op+" "), args, nil
	case r.Property == "":
		return "1=1", nil, nil
	}
	props, attrTable, owner := userProps, "user_attributes", "user_id"
	if entity == SearchGroups {
		props, attrTable, owner = groupProps, "group_attributes", "group_id"
	}
	mode := MatchMode(strings.ToUpper(string(r.Mode)))
	col, ok := props[strings.ToLower(r.Property)]
	if !ok {
		// A custom attribute: match any of its values.
		cond, args, err := compare("a.value", false, propString, mode, r.Value)
		if err != nil {
			return "", nil, fmt.Errorf("property %q: %w", r.Property, err)
		}
		if mode == IsNull {
			return "NOT EXISTS (SELECT 1 FROM " + attrTable + " a WHERE a." + owner + " = e.id AND a.name = ?)", []any{r.Property}, nil
		}
		return "EXISTS (SELECT 1 FROM " + attrTable + " a WHERE a." + owner + " = e.id AND a.name = ? AND " + cond + ")",
			append([]any{r.Property}, args...), nil
	}
	cond, args, err := compare(col.expr, col.lower, col.typ, mode, r.Value)
	if err != nil {
		return "", nil, fmt.Errorf("property %q: %w", r.Property, err)
	}
	return cond, args, nil
}

// dateLayouts are the DATE formats Crowd clients send (restriction bodies and CQL).
var dateLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano,
	"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05", "2006-01-02"}

// ParseDate parses a DATE search value.
func ParseDate(v string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want e.g. 2024-02-11T08:00:00.000+0000 or 2024-02-11): %w", v, ErrInvalid)
}

func compare(expr string, lower bool, typ propType, mode MatchMode, value string) (string, []any, error) {
	if mode == IsNull {
		if typ == propString {
			return "(" + expr + " IS NULL OR " + expr + " = '')", nil, nil
		}
		return expr + " IS NULL", nil, nil
	}
	var v any
	switch typ {
	case propBool:
		switch strings.ToLower(value) {
		case "true":
			v = true
		case "false":
			v = false
		default:
			return "", nil, fmt.Errorf("%q is not true or false: %w", value, ErrInvalid)
		}
		if mode != ExactlyMatches {
			return "", nil, fmt.Errorf("match mode %s does not apply to a boolean: %w", mode, ErrInvalid)
		}
		return expr + " = ?", []any{v}, nil
	case propDate:
		t, err := ParseDate(value)
		if err != nil {
			return "", nil, err
		}
		v = t
	default:
		if lower {
			value = Lower(value)
		}
		v = value
	}
	switch mode {
	case ExactlyMatches:
		return expr + " = ?", []any{v}, nil
	case StartsWith, EndsWith, Contains:
		if typ != propString {
			return "", nil, fmt.Errorf("match mode %s applies only to text: %w", mode, ErrInvalid)
		}
		pat := escapeLike(value)
		switch mode {
		case StartsWith:
			pat += "%"
		case EndsWith:
			pat = "%" + pat
		default:
			pat = "%" + pat + "%"
		}
		return like(expr), []any{pat}, nil
	case LessThan:
		return expr + " < ?", []any{v}, nil
	case LessThanOrEqual:
		return expr + " <= ?", []any{v}, nil
	case GreaterThan:
		return expr + " > ?", []any{v}, nil
	case GreaterThanOrEqual:
		return expr + " >= ?", []any{v}, nil
	}
	return "", nil, fmt.Errorf("unknown match mode %q: %w", mode, ErrInvalid)
}
