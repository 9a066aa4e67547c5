package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/simnet"
)

// wait is how long a test waits for something asynchronous.
const wait = 2 * time.Minute

const (
	ownerEmail    = "owner@migrate.test"
	ownerPassword = "a long enough password"
)

// s3URL returns the URL of a new, unique bucket of the S3 test server
// (gofakes3 creates buckets on first use), skipping the test when no server
// answers, or failing it when CI=true.
func s3URL(tb testing.TB) string {
	tb.Helper()
	e := os.Getenv("HERALD_TEST_S3_ENDPOINT")
	if e == "" {
		e = "http://127.0.0.1:9000"
	}
	u, err := url.Parse(e)
	if err != nil {
		tb.Fatalf("HERALD_TEST_S3_ENDPOINT=%q: %v", e, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		msg := "no S3 test server at " + e + " (HERALD_TEST_S3_ENDPOINT); start it with scripts/test-infra.sh"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	_ = c.Close()
	bucket := strings.ReplaceAll(id.New("migrate"), "_", "-")
	return "s3://herald:s3cret@" + bucket + "?endpoint=" + url.QueryEscape(e) + "&region=us-east-1&use_path_style=true"
}

// runNode starts a node on dataDir, with env over the embedded defaults,
// and returns it with its base URL. It is stopped when the test ends, if
// the test has not stopped it.
func runNode(tb testing.TB, dataDir string, env ...string) (*node.Node, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	environ := append([]string{
		"HERALD_DATA_DIR=" + dataDir,
		"HERALD_LISTEN=" + ln.Addr().String(),
		"HERALD_OUTBOUND__ALLOW_LOOPBACK=true",
		"HERALD_LIMITS__API_RATE=1000000",
		"HERALD_LIMITS__API_BURST=100000",
	}, env...)
	cfg, err := config.Load(nil, environ)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := node.New(ctx, cfg, log, node.WithListener(ln))
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		_ = n.Stop(ctx)
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stopNode(tb, n) })
	return n, "http://" + ln.Addr().String()
}

func stopNode(tb testing.TB, n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		tb.Errorf("stopping the node: %v", err)
	}
}

// runSimnet starts a simulated Mastodon server without a rate limit.
func runSimnet(tb testing.TB) (*simnet.Server, string) {
	tb.Helper()
	sim := simnet.New(simnet.Options{RateLimit: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sim.Serve(ctx, ln)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return sim, "http://" + ln.Addr().String()
}

// client calls the REST API with a session cookie, the way the web UI does.
type client struct {
	base string
	http *http.Client
	csrf string
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, http: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// at returns a client of another node sharing c's cookies (and session).
func (c *client) at(base string) *client {
	return &client{base: base, http: c.http, csrf: c.csrf}
}

// call sends a JSON request (or a prepared body with its content type)
// and returns the status and the answer's body.
func (c *client) call(method, path string, body any) (int, []byte, http.Header, error) {
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case upload:
		rd, ct = bytes.NewReader(b.body), b.contentType
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Origin", c.base)
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, res.Header, err
}

// do calls the API, expects a 2xx answer and decodes it into out.
func (c *client) do(method, path string, body, out any) error {
	status, raw, _, err := c.call(method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (c *client) must(tb testing.TB, method, path string, body, out any) {
	tb.Helper()
	if err := c.do(method, path, body, out); err != nil {
		tb.Fatal(err)
	}
}

type upload struct {
	body        []byte
	contentType string
}

func imageUpload(tb testing.TB, name string, img []byte) upload {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	f, err := w.CreateFormFile("file", name)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = f.Write(img)
	_ = w.WriteField("description", "image "+name)
	_ = w.Close()
	return upload{body: b.Bytes(), contentType: w.FormDataContentType()}
}

// pngImage returns a PNG of noise, different for every seed.
func pngImage(seed uint64, side int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// installation is a Herald that has been used: what it holds, by id.
type installation struct {
	dir     string
	node    *node.Node
	base    string
	client  *client
	simURL  string
	sim     *simnet.Server
	spaces  []space
	future  []string // posts scheduled far ahead
	publish []string // posts published before the move
	soon    []string // posts due during the move
	later   []string // posts due right after the move
	// soonAt and laterAt are when they are due.
	soonAt, laterAt time.Time
	media           []string
}

type space struct {
	id, zone, account string
	media             []string
}

// shape says how much an installation holds.
type shape struct {
	workspaces, mediaPerWorkspace, future, published, soon int
	// soonLead and laterLead are how far ahead of the end of the
	// installation's making the soon and the later posts are due: soon
	// ones while it moves, later ones once it runs again.
	soonLead, laterLead time.Duration
}

// install runs a node with embedded defaults (SQLite, local files) and uses
// it through the REST API as an agency would: workspaces in two zones, a
// Mastodon account each (on the simulated network), images, posts
// scheduled ahead (some with images), posts published now (publish
// attempts, notifications), and, last, posts due a little later.
func install(tb testing.TB, sh shape) *installation {
	tb.Helper()
	in := &installation{dir: tb.TempDir()}
	in.sim, in.simURL = runSimnet(tb)
	in.node, in.base = runNode(tb, in.dir)
	ctx := context.Background()
	if _, _, err := in.node.Portal.CreateAgency(ctx, portal.AgencyInput{AgencyName: "Migrating Agency", Name: "Owner", Email: ownerEmail, Password: ownerPassword}); err != nil {
		tb.Fatal(err)
	}
	c := newClient(in.base)
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	c.must(tb, "POST", "/api/v1/login", map[string]any{"email": ownerEmail, "password": ownerPassword}, &login)
	c.csrf = login.CSRF
	in.client = c

	zones := []string{"UTC", "Europe/Paris", "America/New_York"}
	for w := range sh.workspaces {
		sp := space{zone: zones[w%len(zones)]}
		var ws struct{ ID string }
		c.must(tb, "POST", "/api/v1/workspaces", map[string]any{"name": fmt.Sprintf("client %02d", w), "timezone": sp.zone}, &ws)
		sp.id = ws.ID
		token := in.sim.CreateAccount(fmt.Sprintf("client%02d", w))
		var acct struct{ ID string }
		c.must(tb, "POST", "/api/v1/workspaces/"+ws.ID+"/accounts", map[string]any{"network": "mastodon", "instance_url": in.simURL, "access_token": token}, &acct)
		sp.account = acct.ID
		for m := range sh.mediaPerWorkspace {
			var media struct{ ID string }
			img := pngImage(uint64(w*1000+m), 8+m*4)
			c.must(tb, "POST", "/api/v1/workspaces/"+ws.ID+"/media", imageUpload(tb, fmt.Sprintf("image-%d-%d.png", w, m), img), &media)
			sp.media = append(sp.media, media.ID)
			in.media = append(in.media, media.ID)
		}
		in.spaces = append(in.spaces, sp)
	}

	// Posts far ahead, created by a few clients at once.
	start := time.Now().Add(24 * time.Hour).Truncate(time.Minute)
	in.future = make([]string, sh.future)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= sh.future {
					return
				}
				sp := in.spaces[i%len(in.spaces)]
				body := map[string]any{
					"text":         fmt.Sprintf("future post %d, with émojis ✨ and 'quotes'", i),
					"account_ids":  []string{sp.account},
					"scheduled_at": local(start.Add(time.Duration(i)*time.Minute), sp.zone),
				}
				if i%7 == 0 && len(sp.media) > 0 {
					body["media_ids"] = []string{sp.media[i%len(sp.media)]}
				}
				var p struct{ ID string }
				if err := c.do("POST", "/api/v1/workspaces/"+sp.id+"/posts", body, &p); err != nil {
					errc <- err
					return
				}
				in.future[i] = p.ID
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}

	for i := range sh.published {
		sp := in.spaces[i%len(in.spaces)]
		body := map[string]any{"text": fmt.Sprintf("published post %d", i), "account_ids": []string{sp.account}, "publish_now": true}
		if len(sp.media) > 0 {
			body["media_ids"] = []string{sp.media[i%len(sp.media)]}
		}
		var p struct{ ID string }
		c.must(tb, "POST", "/api/v1/workspaces/"+sp.id+"/posts", body, &p)
		in.publish = append(in.publish, p.ID)
	}
	for _, p := range in.publish {
		in.waitPublished(tb, c, p)
	}
	// Every published post told its owner.
	in.waitNotifications(tb, c, len(in.publish))

	// The API takes times to the second.
	in.soonAt = time.Now().Add(sh.soonLead).Truncate(time.Second).Add(time.Second)
	in.laterAt = time.Now().Add(sh.laterLead).Truncate(time.Second).Add(time.Second)
	for i := range sh.soon {
		in.soon = append(in.soon, in.schedule(tb, fmt.Sprintf("soon post %d", i), in.soonAt))
		in.later = append(in.later, in.schedule(tb, fmt.Sprintf("later post %d", i), in.laterAt))
	}
	return in
}

// schedule schedules a post in the first workspace.
func (in *installation) schedule(tb testing.TB, text string, at time.Time) string {
	tb.Helper()
	sp := in.spaces[0]
	var p struct{ ID string }
	in.client.must(tb, "POST", "/api/v1/workspaces/"+sp.id+"/posts", map[string]any{
		"text": text, "account_ids": []string{sp.account}, "scheduled_at": local(at, sp.zone),
	}, &p)
	return p.ID
}

// local is t as a wall-clock time in zone, as the API takes it.
func local(t time.Time, zone string) string {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	return t.In(loc).Format("2006-01-02T15:04:05")
}

// waitPublished waits until a post is published on every target.
func (in *installation) waitPublished(tb testing.TB, c *client, postID string) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		var p struct{ Status string }
		c.must(tb, "GET", "/api/v1/posts/"+postID, nil, &p)
		if p.Status == "published" {
			return
		}
		if time.Now().After(deadline) || p.Status == "failed" {
			tb.Fatalf("post %s is %s, not published, after %v", postID, p.Status, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitNotifications waits until the owner has at least n notifications.
func (in *installation) waitNotifications(tb testing.TB, c *client, n int) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		var list struct{ Notifications []json.RawMessage }
		c.must(tb, "GET", "/api/v1/notifications?limit=200", nil, &list)
		if len(list.Notifications) >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d notifications after %v, want %d", len(list.Notifications), wait, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the installation's node, as an operator does before a move.
func (in *installation) stop(tb testing.TB) {
	tb.Helper()
	stopNode(tb, in.node)
}

// store and media are the installation's URLs in its embedded defaults.
func (in *installation) store() string { return "sqlite://" + in.dir + "/herald.db" }
func (in *installation) files() string { return "file://" + in.dir + "/media" }
