package api

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// errScopeType is filled in with the field path by encoding/json.
func errScopeType(value string) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeFor[[]string]()}
}

func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array with a non-string item"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	}
	return "a number"
}

// scopeList accepts a scope as a JSON array of strings or as one string of
// comma- or space-separated scopes (official samples send both).
type scopeList struct {
	set    bool
	values []string
}

func (s *scopeList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s.set = true
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s.values = splitList(str)
		return nil
	}
	var arr []any
	if err := json.Unmarshal(b, &arr); err != nil {
		return errScopeType(jsonKind(b))
	}
	s.values = make([]string, 0, len(arr))
	for _, v := range arr {
		str, ok := v.(string)
		if !ok {
			return errScopeType(jsonKind(b))
		}
		s.values = append(s.values, str)
	}
	return nil
}

// get returns the list, or nil when the field was absent.
func (s scopeList) get() []string {
	if !s.set {
		return nil
	}
	if s.values == nil {
		return []string{}
	}
	return s.values
}
