package funchost

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

type segmentKind int

// Values double as ASP.NET-style precedence digits (lower wins).
const (
	segLiteral  segmentKind = 1
	segParam    segmentKind = 3
	segOptional segmentKind = 4
	segCatchAll segmentKind = 5
)

type routeSegment struct {
	kind    segmentKind
	literal string // segLiteral
	param   string // parameter name, constraint stripped
}

// routeTemplate is an ASP.NET-style route as function.json writes it:
// literals, {name}, {name?}, {name:constraint}, {name=default}, {*rest}.
type routeTemplate struct {
	text     string
	segments []routeSegment
}

func parseRouteTemplate(text string) (*routeTemplate, error) {
	t := &routeTemplate{text: text}
	trimmed := strings.Trim(text, "/")
	if trimmed == "" {
		return t, nil
	}
	parts := strings.Split(trimmed, "/")
	for i, p := range parts {
		last := i == len(parts)-1
		if p == "" {
			return nil, errors.New("empty path segment")
		}
		if !strings.ContainsAny(p, "{}") {
			t.segments = append(t.segments, routeSegment{kind: segLiteral, literal: p})
			continue
		}
		if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.Count(p, "{") != 1 || strings.Count(p, "}") != 1 {
			return nil, fmt.Errorf("segment %q: only whole-segment parameters like {name} are supported", p)
		}
		inner := p[1 : len(p)-1]
		seg := routeSegment{kind: segParam}
		if strings.HasPrefix(inner, "*") {
			seg.kind = segCatchAll
			inner = strings.TrimLeft(inner, "*")
		}
		if strings.HasSuffix(inner, "?") {
			if seg.kind == segCatchAll {
				return nil, fmt.Errorf("segment %q: a catch-all cannot be optional", p)
			}
			seg.kind = segOptional
			inner = strings.TrimSuffix(inner, "?")
		}
		if k := strings.Index(inner, "="); k >= 0 { // default value: behaves as optional
			inner = inner[:k]
			if seg.kind == segParam {
				seg.kind = segOptional
			}
		}
		if k := strings.Index(inner, ":"); k >= 0 { // constraints are not enforced
			inner = inner[:k]
		}
		if inner == "" {
			return nil, fmt.Errorf("segment %q: empty parameter name", p)
		}
		seg.param = inner
		if seg.kind == segCatchAll && !last {
			return nil, fmt.Errorf("segment %q: a catch-all must be the last segment", p)
		}
		t.segments = append(t.segments, seg)
	}
	// Optional parameters may only be followed by optional parameters.
	seenOptional := false
	for _, s := range t.segments {
		if s.kind == segOptional {
			seenOptional = true
		} else if seenOptional && s.kind != segCatchAll {
			return nil, errors.New("an optional parameter must be at the end of the route")
		}
	}
	return t, nil
}

func (t *routeTemplate) precedence() []segmentKind {
	out := make([]segmentKind, len(t.segments))
	for i, s := range t.segments {
		out[i] = s.kind
	}
	return out
}

// match tests a path (relative to the route prefix, still escaped) and returns
// the route parameters.
func (t *routeTemplate) match(escapedPath string) (map[string]string, bool) {
	escapedPath = strings.TrimPrefix(escapedPath, "/")
	escapedPath = strings.TrimSuffix(escapedPath, "/")
	var parts []string
	if escapedPath != "" {
		parts = strings.Split(escapedPath, "/")
	}
	params := map[string]string{}
	for i, seg := range t.segments {
		if seg.kind == segCatchAll {
			rest, err := url.PathUnescape(strings.Join(parts[min(i, len(parts)):], "/"))
			if err != nil {
				return nil, false
			}
			params[seg.param] = rest
			return params, true
		}
		if i >= len(parts) {
			if seg.kind == segOptional {
				continue
			}
			return nil, false
		}
		value, err := url.PathUnescape(parts[i])
		if err != nil || value == "" {
			return nil, false
		}
		switch seg.kind {
		case segLiteral:
			if !strings.EqualFold(value, seg.literal) {
				return nil, false
			}
		default:
			params[seg.param] = value
		}
	}
	if len(parts) > len(t.segments) {
		return nil, false
	}
	return params, true
}
