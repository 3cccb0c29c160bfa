package funchost

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Hop-by-hop headers are connection-scoped and never forwarded.
var hopByHopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(hdr http.Header) {
	for _, v := range hdr.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				hdr.Del(name)
			}
		}
	}
	for _, name := range hopByHopHeaders {
		hdr.Del(name)
	}
}

// relativeToPrefix strips "/<routePrefix>" (case-insensitive) from an escaped path.
func relativeToPrefix(escapedPath, prefix string) (string, bool) {
	if prefix == "" {
		return escapedPath, true
	}
	p := "/" + prefix
	if len(escapedPath) < len(p) || !strings.EqualFold(escapedPath[:len(p)], p) {
		return "", false
	}
	rest := escapedPath[len(p):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// matchFunction finds the HTTP function for a path relative to the route prefix.
func (h *Host) matchFunction(relPath, method string) (*function, map[string]string) {
	for _, fn := range h.routes {
		params, ok := fn.Route.match(relPath)
		if !ok {
			continue
		}
		if len(fn.Methods) > 0 && !containsFold(fn.Methods, method) {
			continue
		}
		return fn, params
	}
	return nil, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (h *Host) serveFunctionRequest(w http.ResponseWriter, r *http.Request) {
	escaped := r.URL.EscapedPath()
	rel, ok := relativeToPrefix(escaped, h.hostCfg.RoutePrefix)
	var fn *function
	if ok {
		fn, _ = h.matchFunction(rel, r.Method)
	}
	if fn == nil {
		if escaped == "/" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "devhost: local Azure Functions host emulator is running\n")
			return
		}
		http.Error(w, "no function matches "+r.Method+" "+escaped, http.StatusNotFound)
		return
	}
	h.forward(w, r, fn)
}

// forward proxies the request to the handler like enableForwardingHttpRequest: same
// method, path, headers and body; the query rebuilt as the host does; the caller's
// address appended to X-Forwarded-For; the answer copied back untouched.
func (h *Host) forward(w http.ResponseWriter, r *http.Request, fn *function) {
	invocationID := uuid.NewString()
	start := time.Now()
	ctx := r.Context()
	if h.hostCfg.FunctionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.hostCfg.FunctionTimeout)
		defer cancel()
	}

	// While the handler (re)starts, requests wait for it as the host's
	// requests wait for its worker, up to the start timeout.
	if !h.gate.isUp() {
		waitCtx, cancelWait := context.WithTimeout(ctx, h.cfg.HandlerStartTimeout)
		up := h.gate.wait(waitCtx)
		cancelWait()
		if !up {
			h.logger.Error("invocation failed: the custom handler is not running", "function", fn.Name, "invocationId", invocationID,
				"method", r.Method, "path", r.URL.EscapedPath(), "status", http.StatusServiceUnavailable)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "devhost: the custom handler is not running (starting or restarting); try again", http.StatusServiceUnavailable)
			return
		}
	}
	target := h.gate.url() + r.URL.EscapedPath()
	if q := rebuildQuery(r.URL.RawQuery); q != "" {
		target += "?" + q
	}
	// The host copies the body only when Content-Length > 0: a chunked body
	// is dropped together with its Content-Type ([HOST] HttpRequestExtensions.cs).
	var body io.Reader = r.Body
	contentLength := r.ContentLength
	if contentLength <= 0 {
		body, contentLength = http.NoBody, 0
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		http.Error(w, "devhost: cannot build the forwarded request: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.ContentLength = contentLength
	out.Header = r.Header.Clone()
	removeHopByHop(out.Header)
	if contentLength == 0 {
		out.Header.Del("Content-Type")
		out.Header.Del("Content-Length")
	}
	out.Host = r.Host
	// The host appends its product token to the caller's User-Agent.
	ua := strings.TrimSpace(strings.Join(out.Header.Values("User-Agent"), " "))
	out.Header.Set("User-Agent", strings.TrimSpace(ua+" "+UserAgent))
	setClientAddressHeaders(out.Header, r.RemoteAddr)
	// Headers.Add, not Set: a client-sent invocation ID stays first ([HOST] DefaultHttpWorkerService.cs).
	out.Header.Add(headerInvocationID, invocationID)
	out.Header.Add(headerHostVersion, hostVersion)

	resp, err := h.client.Do(out)
	logAttrs := []any{
		"function", fn.Name, "invocationId", invocationID, "trigger", triggerHTTP,
		"method", r.Method, "path", r.URL.EscapedPath(), // never the query: it may carry ?code=
	}
	if err != nil {
		status, text := http.StatusBadGateway, "devhost: custom handler unreachable"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
			status, text = http.StatusGatewayTimeout, "devhost: function timed out (functionTimeout)"
		}
		h.logger.Error("invocation failed", append(logAttrs, "status", status, "error", err.Error(),
			"durationMs", time.Since(start).Milliseconds())...)
		http.Error(w, text, status)
		return
	}
	defer resp.Body.Close()
	removeHopByHop(resp.Header)
	dst := w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, copyErr := io.Copy(w, resp.Body)
	attrs := append(logAttrs, "status", resp.StatusCode, "durationMs", time.Since(start).Milliseconds())
	if copyErr != nil {
		h.logger.Warn("invocation response copy failed", append(attrs, "error", copyErr.Error())...)
		return
	}
	// Debug: the handler logs every request itself; one line per request is enough.
	h.logger.Debug("invocation completed", attrs...)
}

// setClientAddressHeaders adds what App Service's front end adds: the socket address
// appended to X-Forwarded-For as ip:port ([v6]:port), and the X-Client-*/Client-Ip headers.
func setClientAddressHeaders(hdr http.Header, remoteAddr string) {
	ip, port, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return
	}
	hostPort := net.JoinHostPort(ip, port)
	var prior []string
	for _, v := range hdr.Values("X-Forwarded-For") {
		if v = strings.TrimSpace(v); v != "" {
			prior = append(prior, v)
		}
	}
	hdr.Set("X-Forwarded-For", strings.Join(append(prior, hostPort), ", "))
	hdr.Set("X-Client-Ip", ip)
	hdr.Set("X-Client-Port", port)
	hdr.Set("Client-Ip", hostPort)
}

// rebuildQuery reproduces the host's QueryHelpers.AddQueryString(uri, Query-as-dictionary):
// keys grouped case-insensitively in first-seen order, repeated values joined with ","
// (?a=1&a=2 arrives as a=1%2C2), everything but unreserved characters percent-encoded.
func rebuildQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type pair struct {
		key    string
		values []string
	}
	var order []*pair
	byKey := map[string]*pair{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeQueryPart(k), unescapeQueryPart(v)
		if k == "" {
			continue
		}
		p, ok := byKey[strings.ToLower(k)]
		if !ok {
			p = &pair{key: k}
			byKey[strings.ToLower(k)] = p
			order = append(order, p)
		}
		p.values = append(p.values, v)
	}
	var b strings.Builder
	for i, p := range order {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeUnreserved(p.key))
		b.WriteByte('=')
		b.WriteString(escapeUnreserved(strings.Join(p.values, ",")))
	}
	return b.String()
}

func unescapeQueryPart(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// escapeUnreserved percent-encodes everything except RFC 3986 unreserved characters.
func escapeUnreserved(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
