package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/heraldhq/herald/errs"
)

// Defaults for a zero Policy.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
)

// ErrRefused is wrapped by every error that refuses an address or a URL
// scheme by policy, so callers can tell a refusal from a network failure
// with errors.Is. The *errs.Error around it (kind Forbidden) carries a
// message fit for a form field: it names the address and says why.
var ErrRefused = errors.New("outbound: refused by policy")

// Policy says which addresses a client may connect to. The zero Policy is
// the safe one: public addresses only.
type Policy struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1 (development, tests, a
	// simulator on the same machine).
	AllowLoopback bool
	// AllowPrivate permits RFC 1918 networks, IPv6 unique local addresses
	// (fc00::/7) and shared address space (100.64.0.0/10), for a deployment
	// whose feeds or webhooks live on its own network.
	AllowPrivate bool
	// Timeout bounds a whole request, body included. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects caps the redirects followed. Zero means
	// DefaultMaxRedirects; a negative value follows none and returns the
	// redirect response itself.
	MaxRedirects int
}

// NewClient returns an HTTP client that connects only where p allows.
//
// Link-local (169.254.0.0/16 holds cloud metadata services), unspecified
// (0.0.0.0 reaches the local machine on Linux), multicast and reserved
// addresses are refused whatever the policy: no legitimate feed or webhook
// lives there.
func NewClient(p Policy) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// Control runs after name resolution and before connect(2), once
		// per address tried, so nothing is sent to a refused address and
		// what is checked is what is connected to.
		Control: p.control,
	}
	transport := &http.Transport{
		// Never a proxy: the check would see the proxy's address, not the
		// target's.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, address)
			var r *refusal
			if err != nil && errors.As(err, &r) {
				host, _, _ := net.SplitHostPort(address)
				return nil, r.errorFor(host)
			}
			return conn, err
		},
		ForceAttemptHTTP2: true,
		// Publisher makes up to 256 calls at once, most of them to a few
		// networks' API hosts: keep as many connections to one host as
		// that, or most calls would open (and TLS-handshake) a new one.
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport:     schemeGuard{next: transport},
		CheckRedirect: p.checkRedirect,
		Timeout:       timeout,
	}
}

// Check reports whether p allows connecting to addr. A refusal is an
// *errs.Error of kind Forbidden wrapping ErrRefused.
func (p Policy) Check(addr netip.Addr) error {
	if r := p.refuse(addr); r != nil {
		return r.errorFor("")
	}
	return nil
}

func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer always hands over a resolved ip:port; anything else is
		// not something we can vouch for.
		return errs.Wrap(ErrRefused, errs.Forbidden, fmt.Sprintf("%q is not an address that can be checked", address))
	}
	if r := p.refuse(ap.Addr()); r != nil {
		return r
	}
	return nil
}

func (p Policy) refuse(addr netip.Addr) *refusal {
	c, carried := classify(addr)
	if p.allows(c) {
		return nil
	}
	return &refusal{addr: addr.Unmap(), carried: carried, class: c}
}

func (p Policy) allows(c addrClass) bool {
	switch c {
	case public:
		return true
	case loopback:
		return p.AllowLoopback
	case private, shared:
		return p.AllowPrivate
	default:
		return false
	}
}

func (p Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	limit := p.MaxRedirects
	if limit == 0 {
		limit = DefaultMaxRedirects
	}
	if limit < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > limit {
		return errs.E(errs.Invalid, "the address redirected more than %d times", limit)
	}
	return checkScheme(req)
}

func checkScheme(req *http.Request) error {
	switch req.URL.Scheme {
	case "http", "https":
		return nil
	}
	return errs.Wrap(ErrRefused, errs.Forbidden, fmt.Sprintf("only http and https addresses are allowed, not %q", req.URL.Scheme))
}

// schemeGuard refuses non-HTTP schemes with a readable error before the
// transport answers with its own terse one.
type schemeGuard struct{ next http.RoundTripper }

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// refusal is what Control returns; DialContext turns it into an *errs.Error
// that names the host as the user typed it.
type refusal struct {
	addr    netip.Addr
	carried netip.Addr // the IPv4 address embedded in addr, if that decided
	class   addrClass
}

func (r *refusal) Error() string { return r.describe("") }

func (r *refusal) describe(host string) string {
	what := r.addr.String()
	if r.carried.IsValid() {
		what = fmt.Sprintf("%s (carrying %s)", r.addr, r.carried)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil {
		return fmt.Sprintf("%s resolves to %s, %s, which is not allowed", host, what, r.class)
	}
	return fmt.Sprintf("%s is %s, which is not allowed", what, r.class)
}

func (r *refusal) errorFor(host string) error {
	return errs.Wrap(ErrRefused, errs.Forbidden, r.describe(host))
}

// addrClass is the kind of network an address belongs to, as far as
// reaching it from Herald is concerned.
type addrClass int

const (
	public addrClass = iota
	loopback
	private
	shared
	linkLocal
	unspecified
	multicast
	reserved
)

func (c addrClass) String() string {
	switch c {
	case public:
		return "a public address"
	case loopback:
		return "a loopback address"
	case private:
		return "a private network address"
	case shared:
		return "a carrier-grade NAT (shared) address"
	case linkLocal:
		return "a link-local address"
	case unspecified:
		return "an unspecified address"
	case multicast:
		return "a multicast address"
	default:
		return "a reserved address"
	}
}

var (
	sharedV4     = netip.MustParsePrefix("100.64.0.0/10")
	thisNetV4    = netip.MustParsePrefix("0.0.0.0/8")
	reservedNets = []netip.Prefix{
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // future use, and broadcast
		netip.MustParsePrefix("::/96"),           // deprecated IPv4-compatible
		netip.MustParsePrefix("100::/64"),        // discard-only
		netip.MustParsePrefix("2001::/32"),       // Teredo: hides an IPv4 address
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
	}
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // local-use NAT64
	siteLocal  = netip.MustParsePrefix("fec0::/10")      // deprecated, private in practice
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // well-known NAT64 prefix
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// classify says which network addr is in. IPv6 forms that carry an IPv4
// address (mapped, NAT64, 6to4) are judged by that IPv4 address, which is
// returned as carried, since that is where the packets end up.
func classify(addr netip.Addr) (c addrClass, carried netip.Addr) {
	addr = addr.Unmap()
	if addr.Is6() {
		switch {
		case nat64.Contains(addr):
			b := addr.As16()
			v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
			c, _ := classify(v4)
			return c, v4
		case sixToFour.Contains(addr):
			b := addr.As16()
			v4 := netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
			c, _ := classify(v4)
			return c, v4
		}
	}
	switch {
	case !addr.IsValid():
		return reserved, netip.Addr{}
	case addr.IsUnspecified(), addr.Is4() && thisNetV4.Contains(addr):
		return unspecified, netip.Addr{}
	case addr.IsLoopback():
		return loopback, netip.Addr{}
	case addr.IsPrivate(), siteLocal.Contains(addr), nat64Local.Contains(addr):
		return private, netip.Addr{}
	case addr.Is4() && sharedV4.Contains(addr):
		return shared, netip.Addr{}
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return linkLocal, netip.Addr{}
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return multicast, netip.Addr{}
	}
	for _, p := range reservedNets {
		if p.Contains(addr) {
			return reserved, netip.Addr{}
		}
	}
	return public, netip.Addr{}
}
