package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeJSON decodes the request body into v. Bad JSON, a wrong type, an
// empty or oversized body and trailing data get a 400 (413 for size) that
// says what is wrong and, where it can, names the field.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
		}
		return BadRequest("request body could not be read")
	}
	return decodeBody(body, v)
}

func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is empty; send a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return payloadError(err)
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body has data after the JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body has data after the JSON object"}
	}
	return nil
}

func payloadError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("request body is not valid JSON (at byte %d): %s", se.Offset, se.Error())}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("request body must be a JSON object, not %s", te.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("field %s must be %s, not %s", field, jsonTypeName(te.Type.String()), te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is truncated JSON"}
	}
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is not valid JSON: " + err.Error()}
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"), goType == "json.Number":
		return "a number"
	case goType == "[]string":
		return "an array of strings (or one comma-separated string)"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}
