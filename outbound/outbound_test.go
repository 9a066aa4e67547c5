package outbound_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
)

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	var (
		none     = outbound.Policy{}
		loop     = outbound.Policy{AllowLoopback: true}
		priv     = outbound.Policy{AllowPrivate: true}
		both     = outbound.Policy{AllowLoopback: true, AllowPrivate: true}
		everyone = []outbound.Policy{none, loop, priv, both}
	)
	tests := []struct {
		addr    string
		allowed []outbound.Policy // every other policy must refuse
		reason  string            // in the refusal message
	}{
		{"93.184.216.34", everyone, ""},
		{"2606:4700:4700::1111", everyone, ""},
		{"1.1.1.1", everyone, ""},
		{"127.0.0.1", []outbound.Policy{loop, both}, "loopback"},
		{"127.10.20.30", []outbound.Policy{loop, both}, "loopback"},
		{"::1", []outbound.Policy{loop, both}, "loopback"},
		{"::ffff:127.0.0.1", []outbound.Policy{loop, both}, "loopback"},
		{"10.1.2.3", []outbound.Policy{priv, both}, "private"},
		{"172.16.0.1", []outbound.Policy{priv, both}, "private"},
		{"172.31.255.255", []outbound.Policy{priv, both}, "private"},
		{"172.32.0.1", everyone, ""},
		{"192.168.1.1", []outbound.Policy{priv, both}, "private"},
		{"::ffff:192.168.1.1", []outbound.Policy{priv, both}, "private"},
		{"fd12:3456::1", []outbound.Policy{priv, both}, "private"},
		{"100.64.0.1", []outbound.Policy{priv, both}, "carrier-grade NAT"},
		{"100.127.255.254", []outbound.Policy{priv, both}, "carrier-grade NAT"},
		{"100.128.0.1", everyone, ""},
		{"169.254.169.254", nil, "link-local"},
		{"fe80::1", nil, "link-local"},
		{"0.0.0.0", nil, "unspecified"},
		{"0.1.2.3", nil, "unspecified"},
		{"::", nil, "unspecified"},
		{"224.0.0.1", nil, "link-local"},
		{"239.1.2.3", nil, "multicast"},
		{"ff02::1", nil, "link-local"},
		{"ff05::1", nil, "multicast"},
		{"255.255.255.255", nil, "reserved"},
		{"198.18.0.1", nil, "reserved"},
		{"2001:db8::1", nil, "reserved"},
		// IPv6 forms that deliver to an IPv4 address are judged by it.
		{"64:ff9b::7f00:1", []outbound.Policy{loop, both}, "carrying 127.0.0.1"},
		{"64:ff9b::5db8:d822", everyone, ""},
		{"2002:a00:1::1", []outbound.Policy{priv, both}, "carrying 10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			addr := netip.MustParseAddr(tt.addr)
			for _, p := range everyone {
				wantAllowed := false
				for _, a := range tt.allowed {
					wantAllowed = wantAllowed || a == p
				}
				err := p.Check(addr)
				if wantAllowed {
					if err != nil {
						t.Errorf("%+v refused %s: %v", p, addr, err)
					}
					continue
				}
				if err == nil {
					t.Errorf("%+v allowed %s", p, addr)
					continue
				}
				assertRefused(t, err, tt.reason)
			}
		})
	}
}

func TestClientRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(srv.Close)

	_, err := outbound.NewClient(outbound.Policy{}).Get(srv.URL)
	assertRefused(t, err, "127.0.0.1 is a loopback address")
	if n := hits.Load(); n != 0 {
		t.Errorf("server was reached %d times; want 0", n)
	}

	res, err := outbound.NewClient(outbound.Policy{AllowLoopback: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("with AllowLoopback: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if string(body) != "hello" {
		t.Errorf("body = %q; want hello", body)
	}
}

func TestClientChecksResolvedAddress(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	// The name is fine; what it resolves to is not.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := outbound.NewClient(outbound.Policy{}).Get(u)
	assertRefused(t, err, "localhost resolves to")
}

func TestClientRedirects(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	var loops atomic.Int32
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Targets in refused ranges are literal addresses: the dial is refused
	// before connect(2), so no packet leaves for them.
	tests := []struct {
		name   string
		policy outbound.Policy
		target string
		want   string // substring of the refusal; "" means success
	}{
		{"to an allowed hop", outbound.Policy{AllowLoopback: true}, srv.URL + "/ok", ""},
		{"to a private address", outbound.Policy{AllowLoopback: true}, "http://10.0.0.1/", "10.0.0.1 is a private network address"},
		{"to cloud metadata", outbound.Policy{AllowLoopback: true, AllowPrivate: true}, "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"to a mapped private address", outbound.Policy{AllowLoopback: true, AllowPrivate: false}, "http://[::ffff:10.9.8.7]:80/", "10.9.8.7 is a private network address"},
		{"to another scheme", outbound.Policy{AllowLoopback: true}, "file:///etc/passwd", `not "file"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := outbound.NewClient(tt.policy).Get(srv.URL + "/to?u=" + tt.target)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				_ = res.Body.Close()
				return
			}
			if err == nil {
				_ = res.Body.Close()
				t.Fatalf("Get succeeded with status %d; want refusal", res.StatusCode)
			}
			assertRefused(t, err, tt.want)
		})
	}

	t.Run("capped", func(t *testing.T) {
		_, err := outbound.NewClient(outbound.Policy{AllowLoopback: true}).Get(srv.URL + "/loop")
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.PublicMessage(err), "more than 5") {
			t.Fatalf("err = %v; want an Invalid error about more than 5 redirects", err)
		}
		if n := loops.Load(); n != 6 {
			t.Errorf("server saw %d requests; want 6 (the first and 5 redirects)", n)
		}
	})

	t.Run("not followed", func(t *testing.T) {
		res, err := outbound.NewClient(outbound.Policy{AllowLoopback: true, MaxRedirects: -1}).Get(srv.URL + "/to?u=/ok")
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusFound {
			t.Errorf("status = %d; want 302", res.StatusCode)
		}
	})
}

func TestClientRefusesOtherSchemes(t *testing.T) {
	t.Parallel()
	_, err := outbound.NewClient(outbound.Policy{}).Get("gopher://example.com/")
	assertRefused(t, err, `not "gopher"`)
}

func assertRefused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want a refusal mentioning %q", want)
	}
	if !errors.Is(err, outbound.ErrRefused) {
		t.Errorf("error %v does not wrap ErrRefused", err)
	}
	if !errs.Is(err, errs.Forbidden) {
		t.Errorf("kind = %q; want forbidden", errs.KindOf(err))
	}
	if msg := errs.PublicMessage(err); !strings.Contains(msg, want) {
		t.Errorf("public message %q does not mention %q", msg, want)
	}
}
