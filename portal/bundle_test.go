package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/heraldhq/herald/cache/mem"
	"github.com/heraldhq/herald/cache/readthrough"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestMain runs every test twice: on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { storetest.Main(m) }

// bundle is one Portal service over a fresh store with fakes for
// everything it talks to.
type bundle struct {
	svc       *Service
	db        *store.DB
	bus       *fakeBus
	blob      *gcblob.Bucket
	trigger   *fakeTrigger
	publisher *fakePublisher
	notify    *fakeNotification
	prov      *fakeProvider
	stream    *streamRecorder
	handler   http.Handler
}

func testConfig() Config {
	c := DefaultConfig()
	c.BaseURL = "https://herald.test"
	c.SecretKey = bytes.Repeat([]byte{7}, 32)
	c.CookieSecure = false
	// Cheap hashing keeps the suite fast; production parameters are
	// exercised by the hasher's own test.
	c.Argon2Time, c.Argon2MemoryKiB = 1, 64
	c.LoginRate, c.LoginBurst = 100, 1000
	c.PublicRate, c.PublicBurst = 100, 1000
	c.APIRate, c.APIBurst = 100, 1000
	// Every test reads through a cache of its own, so that each write a
	// test makes and then reads back also checks that the write
	// invalidates what it changed (cached_test.go covers no cache).
	c.Cache = readthrough.New(mem.New(32<<20, 0))
	return c
}

// streamRecorder stands in for Notification's SSE handler.
type streamRecorder struct {
	last *http.Request
}

func (s *streamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.last = r
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "event: hello\ndata: {}\n\n")
}

func setup(t *testing.T, mutate ...func(*Config)) *bundle {
	t.Helper()
	return setupWith(t, nil, mutate...)
}

// setupWith is setup with a chance to change the dependencies (real
// providers instead of the fake one).
func setupWith(t *testing.T, deps func(*Deps), mutate ...func(*Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	b := &bundle{db: db, bus: newFakeBus(), blob: bucket, trigger: newFakeTrigger(), publisher: &fakePublisher{},
		notify: &fakeNotification{}, prov: newFakeProvider(), stream: &streamRecorder{}}
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	d := Deps{
		DB: db, Bus: b.bus, Log: slog.New(slog.DiscardHandler), Blob: bucket,
		Trigger: b.trigger, Publisher: b.publisher, Notification: b.notify, NotificationStream: b.stream,
		Providers: map[string]provider.Provider{"mastodon": b.prov},
	}
	if deps != nil {
		deps(&d)
	}
	svc, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	b.svc, b.handler = svc, svc.Handler()
	return b
}

// client is a browser or script talking to the API: it keeps the session
// cookie and CSRF token, or sends a bearer token.
type client struct {
	t      *testing.T
	b      *bundle
	ip     string
	cookie string
	csrf   string
	bearer string
}

func (b *bundle) client(t *testing.T) *client {
	return &client{t: t, b: b, ip: "192.0.2.1"}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// errorFields returns error.fields of a JSON error response.
func (r *response) errorFields(t *testing.T) map[string]any {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error object in %s", r.Body)
	}
	f, _ := e["fields"].(map[string]any)
	return f
}

func (r *response) errorKind(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	k, _ := e["kind"].(string)
	return k
}

type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends a request. body is JSON-encoded unless it is a string or
// []byte, which are sent as they are.
func (c *client) do(method, path string, body any, opts ...reqOpt) *response {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch v := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(v), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(v), "application/json"
	default:
		js, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(js), "application/json"
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = c.ip + ":40000"
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "herald_session", Value: c.cookie})
	}
	if c.csrf != "" {
		r.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	c.b.handler.ServeHTTP(w, r)
	res := &response{Status: w.Code, Header: w.Result().Header, Body: w.Body.Bytes()}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "herald_session" {
			c.cookie = ck.Value
		}
	}
	return res
}

// must checks the status of a response.
func (c *client) must(status int, res *response) *response {
	c.t.Helper()
	if res.Status != status {
		c.t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	return res
}

// signIn takes the session of a login/setup/accept response.
func (c *client) signIn(res *response) {
	c.t.Helper()
	m := res.json(c.t)
	tok, _ := m["csrf_token"].(string)
	if tok == "" || c.cookie == "" {
		c.t.Fatalf("no session in response: %s", res.Body)
	}
	c.csrf = tok
}

func (c *client) login(email, password string) {
	c.t.Helper()
	c.signIn(c.must(http.StatusOK, c.do("POST", "/api/v1/login", map[string]string{"email": email, "password": password})))
}

const ownerPassword = "correct horse battery"

// agency is one set-up agency with a workspace and a connected account.
type agency struct {
	owner     *client
	id        string
	workspace string
	account   string
}

// firstAgency runs the first-run setup and creates a workspace (Europe/Paris)
// with one connected account.
func (b *bundle) firstAgency(t *testing.T) *agency {
	t.Helper()
	c := b.client(t)
	res := c.must(http.StatusCreated, c.do("POST", "/api/v1/setup", map[string]string{
		"agency_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": ownerPassword}))
	c.signIn(res)
	return b.fillAgency(t, c, "ada")
}

// otherAgency creates another agency through CreateAgency (the admin
// command) and signs its owner in.
func (b *bundle) otherAgency(t *testing.T, name string) *agency {
	t.Helper()
	_, _, err := b.svc.CreateAgency(context.Background(), AgencyInput{AgencyName: name, Name: name, Email: name + "@other.test", Password: ownerPassword})
	if err != nil {
		t.Fatal(err)
	}
	c := b.client(t)
	c.ip = "198.51.100.7"
	c.login(name+"@other.test", ownerPassword)
	return b.fillAgency(t, c, name)
}

func (b *bundle) fillAgency(t *testing.T, c *client, name string) *agency {
	t.Helper()
	a := &agency{owner: c}
	me := c.must(http.StatusOK, c.do("GET", "/api/v1/me", nil)).json(t)
	a.id = me["user"].(map[string]any)["agency_id"].(string)
	ws := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces", map[string]string{"name": name + " brand", "timezone": "Europe/Paris"})).json(t)
	a.workspace = ws["id"].(string)
	b.prov.addToken("token-"+name, "remote-"+name, name)
	acct := c.must(http.StatusCreated, c.do("POST", "/api/v1/workspaces/"+a.workspace+"/accounts", map[string]string{
		"network": "mastodon", "instance_url": "https://social.example", "access_token": "token-" + name})).json(t)
	a.account = acct["id"].(string)
	return a
}

// future is a wall time in the workspace zone a day from now.
func future() string {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Now().In(loc).Add(24 * time.Hour).Format("2006-01-02T15:04")
}

func (a *agency) createPost(t *testing.T, text string) map[string]any {
	t.Helper()
	return a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": text, "account_ids": []string{a.account}, "scheduled_at": future()})).json(t)
}

// count counts rows of a table (only tests build the query).
func (b *bundle) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
