package domain

import (
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	regionPattern    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	dnsLabelPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

const zeroGUID = "00000000-0000-0000-0000-000000000000"

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hex form, any case.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// NormalizeTenantID validates a Microsoft Entra tenant ID (a GUID, not all
// zeros) and returns it in lower case.
func NormalizeTenantID(field, s string) (string, error) {
	if !IsGUID(s) {
		return "", FieldError(field, "must be a GUID like 3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10")
	}
	s = strings.ToLower(s)
	if s == zeroGUID {
		return "", FieldError(field, "must not be the all-zero GUID")
	}
	return s, nil
}

// ValidateRequestID checks a CRM request ID against the contract pattern.
func ValidateRequestID(field, s string) error {
	if !requestIDPattern.MatchString(s) {
		return FieldError(field, "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	return nil
}

// ValidateRegionCode checks a region code's syntax (not whether it is configured).
func ValidateRegionCode(field, s string) error {
	if !regionPattern.MatchString(s) {
		return FieldError(field, "must be a region code: a lower-case letter, then up to 31 of a-z 0-9 -")
	}
	return nil
}

// NormalizeEmail checks a plain address (no display name) and lower-cases its domain.
func NormalizeEmail(field, s string) (string, error) {
	if s == "" {
		return "", FieldError(field, "is required")
	}
	if len(s) > 254 {
		return "", FieldError(field, "must be at most 254 characters")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", FieldError(field, "must be a plain email address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if err := validateHostname(domain); err != nil {
		return "", FieldError(field, "has an invalid domain: %s", err.(*Error).Message)
	}
	return local + "@" + domain, nil
}

// NormalizeDomain validates a DNS domain name such as contoso.com or
// bücher.example and returns its ASCII (punycode) form; see
// NormalizeDomainForms for the Unicode one.
func NormalizeDomain(field, s string) (string, error) {
	a, _, err := NormalizeDomainForms(field, s)
	return a, err
}

func validateHostname(d string) error {
	if len(d) == 0 || len(d) > 253 {
		return Errorf(CodeInvalid, "must be a domain name of 1-253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return Errorf(CodeInvalid, "must be a fully qualified domain name like contoso.com")
	}
	for _, l := range labels {
		if !dnsLabelPattern.MatchString(l) {
			return Errorf(CodeInvalid, "label %q is not a valid DNS label", l)
		}
	}
	return nil
}

// IPPolicy says which admin IP ranges a deployment accepts.
type IPPolicy struct {
	// AllowPrivate admits loopback, private, link-local and unique-local
	// addresses: only local runs need it.
	AllowPrivate bool
}

// Broadest prefixes an allow-list entry may name: wider ranges would make the
// allow-list meaningless (and they bound the index's partition size).
const (
	MinIPv4PrefixLen = 16
	MinIPv6PrefixLen = 32
)

// ParseAllowedIP parses an IP address or CIDR range into a canonical prefix
// (a single address becomes /32 or /128; host bits must be zero).
func (p IPPolicy) ParseAllowedIP(field, s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		parsed, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, FieldError(field, "%q is not an IP address or CIDR range", s)
		}
		if parsed.Addr().Zone() != "" {
			return netip.Prefix{}, FieldError(field, "%q must not carry an IPv6 zone", s)
		}
		if parsed.Masked() != parsed {
			return netip.Prefix{}, FieldError(field, "%q has host bits set; did you mean %s?", s, parsed.Masked())
		}
		pfx = parsed
	} else {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, FieldError(field, "%q is not an IP address or CIDR range", s)
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, FieldError(field, "%q must not carry an IPv6 zone", s)
		}
		addr = addr.Unmap()
		pfx = netip.PrefixFrom(addr, addr.BitLen())
	}
	if pfx.Addr().Is4In6() {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	addr := pfx.Addr()
	if addr.Is4() && pfx.Bits() < MinIPv4PrefixLen {
		return netip.Prefix{}, FieldError(field, "%q is too broad: IPv4 ranges may be at most /%d", s, MinIPv4PrefixLen)
	}
	if addr.Is6() && pfx.Bits() < MinIPv6PrefixLen {
		return netip.Prefix{}, FieldError(field, "%q is too broad: IPv6 ranges may be at most /%d", s, MinIPv6PrefixLen)
	}
	if addr.IsUnspecified() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast() {
		return netip.Prefix{}, FieldError(field, "%q is not a unicast address", s)
	}
	if !p.AllowPrivate && !isPublic(addr) {
		return netip.Prefix{}, FieldError(field, "%q is a private, loopback or reserved address; the admin's public IP is needed", s)
	}
	return pfx, nil
}

// reservedRanges are special-purpose ranges that are never an admin's public
// egress address (RFC 6890 and friends) beyond what netip classifies. The
// documentation ranges stay accepted: the provisioning contract's own example
// uses them.
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
}

func isPublic(a netip.Addr) bool {
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || !a.IsGlobalUnicast() {
		return false
	}
	for _, r := range reservedRanges {
		if r.Contains(a) {
			return false
		}
	}
	return true
}

// ValidateText checks a free-text field: valid UTF-8, no control characters,
// length in runes between min and max.
func ValidateText(field, s string, min, max int) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return FieldError(field, "must be valid UTF-8 (it holds a replacement character)")
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return FieldError(field, "is required")
		}
		return FieldError(field, "must be at least %d characters", min)
	}
	if n > max {
		return FieldError(field, "must be at most %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return FieldError(field, "must not contain control characters or line breaks")
		}
	}
	return nil
}
