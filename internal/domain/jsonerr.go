package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// jsonFieldError turns encoding/json errors into field errors.
func jsonFieldError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return FieldError(field, "must be a %s", jsonTypeName(typeErr.Type.Kind().String()))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return FieldError("(body)", "is not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return FieldError(strings.Trim(name, `"`), "is not a known field")
	}
	if errors.Is(err, io.EOF) {
		return FieldError("(body)", "is empty")
	}
	return FieldError("(body)", "is not valid JSON: %v", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "slice", "array":
		return "JSON array"
	case "struct", "map":
		return "JSON object"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}
