package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/simnet"
)

// waitFor is how long the suite waits for anything asynchronous.
const waitFor = 30 * time.Second

// herald is a running node and the simulated network it publishes to.
type herald struct {
	t      *testing.T
	URL    string
	Node   *node.Node
	Sim    *simnet.Server
	SimURL string
	Calls  *protocolCounter
	// agency creates an agency and its owner where there is no Node in
	// this process (a split topology of child processes).
	agency func(portal.AgencyInput) error
}

// createAgency makes a second agency, beside the one first run set up.
func (h *herald) createAgency(in portal.AgencyInput) error {
	if h.agency != nil {
		return h.agency(in)
	}
	_, _, err := h.Node.Portal.CreateAgency(context.Background(), in)
	return err
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// mailpitURL returns the test SMTP server's HTTP API, failing under CI and
// skipping elsewhere when it is not running.
func mailpitURL(t *testing.T) (smtpAddr, api string) {
	t.Helper()
	smtpAddr = env("HERALD_TEST_SMTP_ADDR", "127.0.0.1:1025")
	api = env("HERALD_TEST_MAILPIT_URL", "http://127.0.0.1:8025")
	c, err := net.DialTimeout("tcp", smtpAddr, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SMTP test server not reachable at %s (make test starts it): %v", smtpAddr, err)
		}
		t.Skipf("SMTP test server not reachable at %s; run make test-infra", smtpAddr)
	}
	c.Close()
	return smtpAddr, api
}

// startHerald runs a node with every service, reaching each other by
// transport (local, grpc or connect), on a fresh data directory; extra
// HERALD_* settings (another stack of adapters) come last and win.
func startHerald(t *testing.T, transport string, extra ...string) *herald {
	t.Helper()
	smtpAddr, _ := mailpitURL(t)
	sim := simnet.New(simnet.Options{})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	environ := []string{
		"HERALD_DATA_DIR=" + t.TempDir(),
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_SMTP__URL=smtp://" + smtpAddr + "?tls=none",
		"HERALD_SMTP__FROM=Herald Test <herald@test.invalid>",
		"HERALD_LOG__LEVEL=warn",
	}
	for _, s := range config.AllServices {
		up := "HERALD_SERVICES__" + strings.ToUpper(s) + "__"
		environ = append(environ, up+"TRANSPORT="+transport)
		if transport != config.TransportLocal {
			environ = append(environ, up+"URL="+base)
		}
	}
	environ = append(environ, extra...)
	cfg, err := config.Load(nil, environ)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	calls := &protocolCounter{}
	n, err := node.New(ctx, cfg, log, node.WithListener(ln), node.WithMiddleware(calls.middleware))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(sctx); err != nil {
			t.Errorf("stopping the node: %v", err)
		}
	})
	return &herald{t: t, URL: base, Node: n, Sim: sim, SimURL: simSrv.URL, Calls: calls}
}

// protocolCounter counts the service calls a node received, by service
// method and wire protocol, to prove which transport a run really used.
type protocolCounter struct {
	mu    sync.Mutex
	count map[string]int // "herald.trigger.v1.TriggerService/Schedule grpc"
}

func (p *protocolCounter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/herald.") {
			proto := "other"
			ct := r.Header.Get("Content-Type")
			switch {
			case strings.HasPrefix(ct, "application/grpc"):
				proto = "grpc"
			case ct == "application/json":
				proto = "connect+json"
			}
			p.mu.Lock()
			if p.count == nil {
				p.count = map[string]int{}
			}
			p.count[strings.TrimPrefix(r.URL.Path, "/")+" "+proto]++
			p.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// get returns how many calls of method arrived over proto.
func (p *protocolCounter) get(method, proto string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[method+" "+proto]
}

// notOver lists the calls that arrived over any other protocol than proto.
func (p *protocolCounter) notOver(proto string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k := range p.count {
		if !strings.HasSuffix(k, " "+proto) {
			out = append(out, k)
		}
	}
	return out
}

// total returns how many service calls arrived at all.
func (p *protocolCounter) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.count {
		n += c
	}
	return n
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a browser-like API client: cookies and the CSRF token.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (h *herald) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: h.t, base: h.URL, http: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// obj is a decoded JSON object.
type obj = map[string]any

// call sends a JSON request and checks the status; it returns the decoded body.
func (c *client) call(method, path string, body any, wantStatus int) obj {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string: // raw, possibly malformed, JSON
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, wantStatus)
}

func (c *client) send(req *http.Request, wantStatus int) obj {
	c.t.Helper()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", c.base)
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		c.t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, res.StatusCode, wantStatus, raw)
	}
	out := obj{}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, raw, err)
		}
		switch v := v.(type) {
		case map[string]any:
			out = v
		default:
			out = obj{"items": v}
		}
	}
	return out
}

// upload posts a file as multipart form data.
func (c *client) upload(path, fileName string, content []byte, wantStatus int) obj {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		c.t.Fatal(err)
	}
	fw.Write(content)
	mw.WriteField("description", "a test image")
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.base+path, &buf)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req, wantStatus)
}

// login signs in and keeps the session's CSRF token.
func (c *client) login(email, password string) obj {
	c.t.Helper()
	c.csrf = ""
	res := c.call(http.MethodPost, "/api/v1/login", obj{"email": email, "password": password}, http.StatusOK)
	c.csrf = str(res, "csrf_token")
	if c.csrf == "" {
		c.t.Fatalf("login returned no csrf_token: %v", res)
	}
	return res
}

// str digs a string out of nested objects: str(o, "error", "fields", "text").
func str(o obj, path ...string) string {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func items(o obj, key string) []obj {
	raw, _ := o[key].([]any)
	out := make([]obj, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// eventually polls f until it returns true or the suite's patience ends.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// mailFor returns the subjects of the messages mailpit received for to.
func mailFor(t *testing.T, api, to string) []string {
	t.Helper()
	res, err := http.Get(api + "/api/v1/search?query=" + url.QueryEscape("to:"+to))
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		Messages []struct {
			Subject string
		} `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("mailpit search: %v", err)
	}
	var out []string
	for _, m := range body.Messages {
		out = append(out, m.Subject)
	}
	return out
}

// uniqueEmail makes an address no other test run uses, so mail checks find
// only their own messages in the shared mailpit.
func uniqueEmail(who string) string {
	return fmt.Sprintf("%s.%d@agency.test", who, time.Now().UnixNano())
}
