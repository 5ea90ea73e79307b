package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// An origin is a browser's "scheme://host[:port]", compared as its normal form: lower case,
// without the scheme's default port. Widget keys and end-user sessions are bound to origins.

// KeyOrigin validates an origin given for a widget or session issuer key and returns its
// normal form: https only, except plain http on localhost, 127.0.0.1 and [::1] for
// development; no path, query, fragment, user info or wildcard; an ASCII host (give an
// internationalised name in its xn-- form, as browsers send it).
func KeyOrigin(s string) (string, error) {
	o, err := normalOrigin(s)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", s, err)
	}
	return o, nil
}

// RequestOrigin returns the normal form of a request's Origin header, or false when there is
// none, it is "null" (sandboxed frames, file: pages, some redirects: no one to bind to) or it
// is not an origin a key could list.
func RequestOrigin(header string) (string, bool) {
	if header == "" || header == "null" {
		return "", false
	}
	o, err := normalOrigin(header)
	return o, err == nil
}

const maxOriginLen = 256

func normalOrigin(s string) (string, error) {
	switch {
	case s == "" || s == "null":
		return "", errors.New("not an origin: give scheme://host[:port]")
	case len(s) > maxOriginLen:
		return "", fmt.Errorf("longer than %d bytes", maxOriginLen)
	case strings.Contains(s, "*"):
		return "", errors.New("wildcards are not allowed: list each origin")
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f {
			return "", errors.New("only printable ASCII is allowed (give an internationalised host in its xn-- form)")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not an origin: give scheme://host[:port]")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("not an origin: give scheme://host[:port]")
	case u.User != nil:
		return "", errors.New("user info is not allowed")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(s, "#"):
		return "", errors.New("an origin has no path, query or fragment (not even a trailing /)")
	case host == "":
		return "", errors.New("no host")
	case scheme == "http" && !loopbackHost(host):
		return "", errors.New("plain http is allowed only for localhost, 127.0.0.1 and [::1]: use https")
	case scheme != "https" && scheme != "http":
		return "", fmt.Errorf("scheme %q: use https", u.Scheme)
	}
	port := u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port")
	}
	if port != "" {
		n := 0
		for _, c := range port {
			n = n*10 + int(c-'0')
			if n > 65535 {
				break
			}
		}
		if n < 1 || n > 65535 || port[0] == '0' {
			return "", fmt.Errorf("port %q is not between 1 and 65535", port)
		}
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
	}
	if strings.Contains(host, ":") { // IPv6
		host = "[" + host + "]"
	} else if strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return "", errors.New("the host is not a name")
	}
	if port != "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	return scheme + "://" + host, nil
}

func loopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
