package portable

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/errs"
)

// DefaultPath is where Herald keeps its locks and registry on a server
// when the URL names no path.
const DefaultPath = "/herald"

// DefaultConnectTimeout is how long Open waits for a server to answer.
const DefaultConnectTimeout = 5 * time.Second

// Target is what a coordination URL names:
//
//	scheme://[user[:password]@]host[:port][,host[:port]...][/path][?ttl=10s&connect_timeout=5s]
type Target struct {
	// Servers are the host:port of every server, in the URL's order.
	Servers []string
	// Path is where Herald keeps its data: "/herald" unless the URL names
	// another ("/a/b"); several Herald installations may share a server
	// under different paths.
	Path               string
	Username, Password string
	// TTL is how long a session may be out of touch with the servers
	// before they end it (coord.DefaultTTL unless the URL says).
	TTL time.Duration
	// ConnectTimeout bounds how long Open waits for a server to answer.
	ConnectTimeout time.Duration
	// Redacted is the URL with its password hidden, for messages.
	Redacted string
}

// ParseURL reads a coordination URL. defaultPort is given to hosts without
// one; ttlAliases are other names an adapter accepts for ttl (ZooKeeper's
// "session_timeout"); minTTL is the least ttl the adapter can honour. Every
// problem is reported at once, as an errs.Invalid error naming the URL
// (redacted) and each faulty part.
func ParseURL(u *url.URL, defaultPort string, minTTL time.Duration, ttlAliases ...string) (Target, error) {
	t := Target{Path: DefaultPath, TTL: coord.DefaultTTL, ConnectTimeout: DefaultConnectTimeout, Redacted: u.Redacted()}
	var v errs.Fields
	if u.Opaque != "" {
		v.Add("url", "must be of the form %s://host:port/path", u.Scheme)
	}
	if u.User != nil {
		t.Username = u.User.Username()
		t.Password, _ = u.User.Password()
		if t.Username == "" {
			v.Add("user", "must not be empty when credentials are given")
		}
	}
	if u.Host == "" {
		v.Add("host", "must name at least one server")
	}
	for h := range strings.SplitSeq(u.Host, ",") {
		if u.Host == "" {
			break
		}
		if h == "" {
			v.Add("host", "must not have an empty entry in %q", u.Host)
			continue
		}
		if _, port, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort)
		} else if port == "" {
			v.Add("host", "must not have an empty port in %q", h)
			continue
		}
		t.Servers = append(t.Servers, h)
	}
	if p := u.Path; p != "" && p != "/" {
		if msg := checkPath(p); msg != "" {
			v.Add("path", "%s", msg)
		} else {
			t.Path = p
		}
	}

	q := u.Query()
	known := append([]string{"ttl", "connect_timeout"}, ttlAliases...)
	ttlName := ""
	for _, name := range append([]string{"ttl"}, ttlAliases...) {
		if q.Has(name) {
			if ttlName != "" {
				v.Add(name, "must not be given with %s: they are the same option", ttlName)
				continue
			}
			ttlName = name
		}
	}
	if ttlName != "" {
		t.TTL = duration(&v, ttlName, q.Get(ttlName), minTTL)
	}
	if q.Has("connect_timeout") {
		t.ConnectTimeout = duration(&v, "connect_timeout", q.Get("connect_timeout"), 100*time.Millisecond)
	}
	for name := range q {
		if !slices.Contains(known, name) {
			slices.Sort(known)
			v.Add(name, "is not an option (known: %s)", strings.Join(known, ", "))
		}
	}
	if err := v.Err(); err != nil {
		e, _ := errs.As(err)
		e.Message = fmt.Sprintf("coordination URL %s is not valid", t.Redacted)
		return Target{}, e
	}
	return t, nil
}

func duration(v *errs.Fields, name, s string, least time.Duration) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d < least {
		v.Add(name, "must be a duration of at least %v, such as 10s, not %q", least, s)
	}
	return d
}

// checkPath says what is wrong with a URL path for Herald's data, or "".
// It accepts what both ZooKeeper paths and etcd keys take without escaping.
func checkPath(p string) string {
	if strings.HasSuffix(p, "/") {
		return fmt.Sprintf("must not end with a slash: %q", p)
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Sprintf("must not have an empty, \".\" or \"..\" segment: %q", p)
		}
		if strings.ContainsFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		}) {
			return fmt.Sprintf("may hold only letters, digits, '-', '_', '.' and '/': %q", p)
		}
	}
	return ""
}

// OpenFailed is the error of an Open that could not start: one line naming
// the port, the URL without its password and the cause, so that a node
// that cannot start says why at once. kind is errs.Unavailable for a server
// that did not answer, errs.Unauthenticated or errs.Forbidden for one that
// refused the credentials.
func OpenFailed(t Target, kind errs.Kind, what string, err error) error {
	return errs.Wrap(err, kind, fmt.Sprintf("coord %s: %s", t.Redacted, what))
}

// Segment makes s one path segment of a ZooKeeper path or etcd key,
// whatever it holds: '/' and other characters with a meaning in a path are
// percent-escaped, and so are "." and "..", which ZooKeeper refuses as node
// names. Different names always give different segments, and a segment
// never holds '~', so an adapter may use it as a separator.
func Segment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return strings.ReplaceAll(url.PathEscape(s), "~", "%7E")
}
