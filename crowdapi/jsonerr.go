package crowdapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// jsonProblem describes why a JSON body was refused in the client's terms (JSON fields and types),
// never naming crowdgate's Go types as encoding/json's messages do ("cannot unmarshal number into
// Go struct field userEntity.name of type string").
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		want := "a value of another type"
		if te.Type != nil {
			want = jsonKind(te.Type)
		}
		if te.Field == "" {
			return fmt.Sprintf("the body must be %s, not %s", want, te.Value)
		}
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, want, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d", se.Offset)
	}
	// Our entities' own messages ("yes is not a boolean") are in the client's terms already;
	// encoding/json's are not.
	if m := err.Error(); !strings.Contains(m, "Go ") && !strings.HasPrefix(m, "json:") && len(m) < 200 {
		return m
	}
	return "not valid JSON for this request"
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value of another type"
}
