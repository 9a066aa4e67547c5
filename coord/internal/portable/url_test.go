package portable_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/internal/portable"
	"github.com/heraldhq/herald/errs"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want portable.Target
	}{
		{"zk://127.0.0.1", portable.Target{
			Servers: []string{"127.0.0.1:2181"}, Path: "/herald", TTL: coord.DefaultTTL,
			ConnectTimeout: portable.DefaultConnectTimeout, Redacted: "zk://127.0.0.1",
		}},
		{"zk://u:p@a,b:1/x/y-z.1?session_timeout=4s&connect_timeout=2s", portable.Target{
			Servers: []string{"a:2181", "b:1"}, Path: "/x/y-z.1", Username: "u", Password: "p",
			TTL: 4 * time.Second, ConnectTimeout: 2 * time.Second,
			Redacted: "zk://u:xxxxx@a,b:1/x/y-z.1?session_timeout=4s&connect_timeout=2s",
		}},
		// A single IPv6 host; Go's URL parser takes no list of them.
		{"zk://[::1]/h", portable.Target{
			Servers: []string{"[::1]:2181"}, Path: "/h", TTL: coord.DefaultTTL,
			ConnectTimeout: portable.DefaultConnectTimeout, Redacted: "zk://[::1]/h",
		}},
		{"zk://h/?ttl=1m", portable.Target{
			Servers: []string{"h:2181"}, Path: "/herald", TTL: time.Minute,
			ConnectTimeout: portable.DefaultConnectTimeout, Redacted: "zk://h/?ttl=1m",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := portable.ParseURL(u, "2181", time.Second, "session_timeout")
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseURL = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url    string
		fields []string
	}{
		{"zk:opaque", []string{"url", "host"}},
		{"zk:///herald", []string{"host"}},
		{"zk://a,,b/herald", []string{"host"}},
		{"zk://:pw@a/herald", []string{"user"}},
		{"zk://a/herald/", []string{"path"}},
		{"zk://a//herald", []string{"path"}},
		{"zk://a/her/../ald", []string{"path"}},
		{"zk://a/h%20x", []string{"path"}},
		{"zk://a/h?ttl=0s&connect_timeout=1ms&zoo=1", []string{"ttl", "connect_timeout", "zoo"}},
		{"zk://a/h?ttl=5s&session_timeout=5s", []string{"session_timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = portable.ParseURL(u, "2181", time.Second, "session_timeout")
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("err = %v, want errs.Invalid", err)
			}
			for _, f := range tc.fields {
				if _, ok := e.Fields[f]; !ok {
					t.Errorf("err = %v, want it to name %q", err, f)
				}
			}
			if len(e.Fields) != len(tc.fields) {
				t.Errorf("err = %v names %d fields, want %d", err, len(e.Fields), len(tc.fields))
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("err = %v shows the password", err)
			}
		})
	}
}

func TestSegment(t *testing.T) {
	t.Parallel()
	names := []string{"", "a", "a/b", "a%2Fb", ".", "..", "...", "a~b", "a%7Eb", "trigger/shard/3", "é", " ", "a b"}
	seen := map[string]string{}
	for _, n := range names {
		s := portable.Segment(n)
		if prev, ok := seen[s]; ok {
			t.Errorf("Segment(%q) = Segment(%q) = %q", n, prev, s)
		}
		seen[s] = n
		if strings.ContainsAny(s, "/~") || s == "." || s == ".." {
			t.Errorf("Segment(%q) = %q: not one safe segment", n, s)
		}
	}
}
