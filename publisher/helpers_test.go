package publisher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/mem"
	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestMain runs every test twice: on SQLite, then on PostgreSQL.
func TestMain(m *testing.M) { storetest.Main(m) }

// testConfig makes every wait short, so retries happen within a test.
func testConfig() Config {
	return Config{
		Concurrency:      16,
		CallTimeout:      5 * time.Second,
		InFlightTimeout:  10 * time.Second,
		MaxTries:         4,
		RetryBase:        20 * time.Millisecond,
		RetryMax:         80 * time.Millisecond,
		UnknownDelay:     10 * time.Millisecond,
		UnknownMaxDelay:  40 * time.Millisecond,
		PollInterval:     10 * time.Millisecond,
		RetryBatch:       64,
		RetryConcurrency: 8,
	}
}

// bundle is one Publisher under test with its fakes.
type bundle struct {
	svc    *Service
	db     *store.DB
	bus    *mem.Bus
	blob   *gcblob.Bucket
	portal *fakePortal
	net    *fakeNetwork
	events *recorder
}

type setupOptions struct {
	cfg   func(*Config)
	clock *fakeClock
	// noRun skips Start.
	noRun bool
	// dbURL, portal and net share a database, a Portal and a network with
	// another bundle.
	dbURL  string
	portal *fakePortal
	net    *fakeNetwork
	// providers replaces the fake network.
	providers map[string]provider.Provider
	// coord, when set, is the coordinator (shared with another bundle).
	coord coord.Coordinator
}

// setup builds, migrates and starts a Publisher over a fresh store,
// the in-process bus, an in-memory bucket, a fake Portal and a fake
// network named "mastodon".
func setup(t testing.TB, opts setupOptions) *bundle {
	t.Helper()
	ctx := context.Background()
	u := opts.dbURL
	if u == "" {
		u = storetest.URL(t)
	}
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := mem.New()
	t.Cleanup(func() { b.Close() })
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })

	cfg := testConfig()
	if opts.cfg != nil {
		opts.cfg(&cfg)
	}
	tb := &bundle{db: db, bus: b, blob: bucket, portal: opts.portal, net: opts.net}
	if tb.portal == nil {
		tb.portal = newFakePortal()
	}
	if tb.net == nil {
		tb.net = newFakeNetwork("mastodon")
	}
	tb.events = record(t, b)
	providers := opts.providers
	if providers == nil {
		providers = map[string]provider.Provider{"mastodon": tb.net}
	}
	svc, err := New(cfg, Deps{
		DB: db, Bus: b, Blob: bucket, Portal: tb.portal,
		Log:       testLogger(),
		Providers: providers,
		Coord:     opts.coord,
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.clock != nil {
		svc.now = opts.clock.Now
	}
	tb.svc = svc
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if !opts.noRun {
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := svc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return tb
}

// job is a publishable post with one target per account id.
func job(tenant, post string, revision int64, text string, accounts ...string) *portalv1.PublishJob {
	j := &portalv1.PublishJob{
		TenantId: tenant, WorkspaceId: "ws_" + tenant, PostId: post, Revision: revision, Text: text,
	}
	for _, a := range accounts {
		j.Targets = append(j.Targets, &portalv1.Target{
			AccountId: a, Network: "mastodon", InstanceUrl: "https://social.example",
			AccessToken: "token-" + a, Handle: "@" + a,
		})
	}
	return j
}

// due publishes a post.due event for j on the bus and returns the bus's
// answer: nil once the publisher acknowledged it.
func (tb *bundle) due(ctx context.Context, eventID string, j *portalv1.PublishJob, dueAt time.Time) error {
	payload, err := proto.Marshal(dueEvent(j, dueAt))
	if err != nil {
		return err
	}
	return tb.bus.Publish(ctx, &bus.Message{ID: eventID, Topic: bus.TopicPostDue, Payload: payload})
}

// dueEvent is the post.due Trigger emits for j at dueAt.
func dueEvent(j *portalv1.PublishJob, dueAt time.Time) *eventsv1.PostDue {
	return &eventsv1.PostDue{
		TenantId: j.GetTenantId(), PostId: j.GetPostId(), Revision: j.GetRevision(),
		ScheduleId: j.GetPostId(), DueAt: timestamppb.New(dueAt), FiredAt: timestamppb.New(dueAt),
	}
}

// mustDue is due for a call expected to be acknowledged.
func (tb *bundle) mustDue(t testing.TB, j *portalv1.PublishJob, dueAt time.Time) string {
	t.Helper()
	eid := id.New("evt")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.due(ctx, eid, j, dueAt); err != nil {
		t.Fatalf("post.due for %s not acknowledged: %v", j.GetPostId(), err)
	}
	return eid
}

func (tb *bundle) attempts(t *testing.T, tenant, post string) []*publisherv1.Attempt {
	t.Helper()
	res, err := tb.svc.ListAttempts(context.Background(), &publisherv1.ListAttemptsRequest{TenantId: tenant, PostId: post})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetAttempts()
}

// row reads one attempt row with its internal state.
func (tb *bundle) row(t *testing.T, key string) attempt {
	t.Helper()
	a, err := scanAttempt(tb.db.QueryRow(context.Background(),
		`SELECT `+attemptColumns+` FROM publisher_attempts WHERE idempotency_key = ?`, key))
	if err != nil {
		t.Fatalf("attempt %s: %v", key, err)
	}
	return a
}

// drained waits until the outbox relayed everything, so that the recorder
// has seen every event the service wrote.
func (tb *bundle) drained(t testing.TB) {
	t.Helper()
	eventually(t, "outbox drained", func() bool {
		n, err := tb.svc.outbox.Pending(context.Background())
		return err == nil && n == 0
	})
}

// retryNow runs one pass of the retry loop and waits for what it started.
func (tb *bundle) retryNow(t *testing.T) int {
	t.Helper()
	var wg sync.WaitGroup
	n, _, err := tb.svc.retryDue(context.Background(), &wg)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return n
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Microsecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder collects the events Publisher emits. Like every consumer, it
// counts an event once however often the bus delivers it (at least once).
type recorder struct {
	mu        sync.Mutex
	seen      map[string]bool
	published []*eventsv1.PostPublished
	failed    []*eventsv1.PostFailed
	reconnect []*eventsv1.AccountNeedsReconnect
}

func record(t testing.TB, b bus.Bus) *recorder {
	t.Helper()
	r := &recorder{seen: map[string]bool{}}
	subscribe := func(topic string, h func([]byte) error) {
		sub, err := b.Subscribe(context.Background(), topic, "test-recorder", func(_ context.Context, m *bus.Message) error {
			r.mu.Lock()
			dup := r.seen[m.ID]
			r.seen[m.ID] = true
			r.mu.Unlock()
			if dup {
				return nil
			}
			return h(m.Payload)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
	}
	subscribe(bus.TopicPostPublished, func(p []byte) error {
		var ev eventsv1.PostPublished
		if err := proto.Unmarshal(p, &ev); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.published = append(r.published, &ev)
		return nil
	})
	subscribe(bus.TopicPostFailed, func(p []byte) error {
		var ev eventsv1.PostFailed
		if err := proto.Unmarshal(p, &ev); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.failed = append(r.failed, &ev)
		return nil
	})
	subscribe(bus.TopicAccountNeedsReconnect, func(p []byte) error {
		var ev eventsv1.AccountNeedsReconnect
		if err := proto.Unmarshal(p, &ev); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reconnect = append(r.reconnect, &ev)
		return nil
	})
	return r
}

func (r *recorder) Published() []*eventsv1.PostPublished {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*eventsv1.PostPublished(nil), r.published...)
}

func (r *recorder) Failed() []*eventsv1.PostFailed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*eventsv1.PostFailed(nil), r.failed...)
}

func (r *recorder) Reconnect() []*eventsv1.AccountNeedsReconnect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*eventsv1.AccountNeedsReconnect(nil), r.reconnect...)
}

// fakePortal serves publish jobs from memory.
type fakePortal struct {
	mu    sync.Mutex
	jobs  map[string]*portalv1.GetPublishJobResponse
	err   error
	calls int
	reqs  []*portalv1.GetPublishJobRequest
	// settled holds the firings' targets whose outcome Portal recorded
	// (firingTarget keys): like Portal, a request naming that firing is
	// not offered them again.
	settled map[string]bool
	// creds, when set for an account, are its stored credentials: they
	// replace those of the jobs' targets, and UpdateCredentials changes
	// them as Portal does (compare-and-set on the version).
	creds   map[string]*portalv1.Target
	updates int
	// updateFailures fail the next UpdateCredentials calls as unavailable.
	updateFailures int
}

// setCreds stores an account's credentials at version 1.
func (p *fakePortal) setCreds(account, access, refresh string, expires time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creds == nil {
		p.creds = map[string]*portalv1.Target{}
	}
	t := &portalv1.Target{AccessToken: access, RefreshToken: refresh, CredentialsVersion: 1}
	if !expires.IsZero() {
		t.ExpiresAt = timestamppb.New(expires)
	}
	p.creds[account] = t
}

// Creds returns an account's stored credentials and how many updates
// were stored.
func (p *fakePortal) Creds(account string) (*portalv1.Target, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proto.Clone(p.creds[account]).(*portalv1.Target), p.updates
}

func (p *fakePortal) overlayLocked(t *portalv1.Target) {
	if c := p.creds[t.GetAccountId()]; c != nil {
		t.AccessToken, t.RefreshToken, t.ExpiresAt = c.GetAccessToken(), c.GetRefreshToken(), c.GetExpiresAt()
		t.CredentialsVersion = c.GetCredentialsVersion()
	}
}

func (p *fakePortal) UpdateCredentials(_ context.Context, req *portalv1.UpdateCredentialsRequest) (*portalv1.UpdateCredentialsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.updateFailures > 0 {
		p.updateFailures--
		return nil, errs.E(errs.Unavailable, "portal is restarting")
	}
	c := p.creds[req.GetAccountId()]
	if c == nil {
		return nil, errs.E(errs.NotFound, "account not found")
	}
	if c.GetCredentialsVersion() != req.GetBasedOnVersion() {
		return &portalv1.UpdateCredentialsResponse{Target: proto.Clone(c).(*portalv1.Target)}, nil
	}
	p.updates++
	c.AccessToken, c.ExpiresAt = req.GetAccessToken(), req.GetExpiresAt()
	if req.GetRefreshToken() != "" {
		c.RefreshToken = req.GetRefreshToken()
	}
	c.CredentialsVersion++
	return &portalv1.UpdateCredentialsResponse{Updated: true, Target: proto.Clone(c).(*portalv1.Target)}, nil
}

func firingTarget(tenant, post string, revision int64, dueAt time.Time, account string) string {
	return fmt.Sprintf("%s@%d/%s", jobID(tenant, post, revision), store.ToMicros(dueAt), account)
}

// settle records, as Portal does on post.published or post.failed, that
// the firing at dueAt has an outcome for account.
func (p *fakePortal) settle(j *portalv1.PublishJob, dueAt time.Time, account string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.settled == nil {
		p.settled = map[string]bool{}
	}
	p.settled[firingTarget(j.GetTenantId(), j.GetPostId(), j.GetRevision(), dueAt, account)] = true
}

func newFakePortal() *fakePortal {
	return &fakePortal{jobs: map[string]*portalv1.GetPublishJobResponse{}}
}

func jobID(tenant, post string, revision int64) string {
	return fmt.Sprintf("%s/%s/%d", tenant, post, revision)
}

// set makes j the answer for its post revision.
func (p *fakePortal) set(j *portalv1.PublishJob, publishable bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := &portalv1.GetPublishJobResponse{Publishable: publishable}
	if publishable {
		res.Job = j
	} else {
		res.Reason = "the post was edited"
	}
	p.jobs[jobID(j.GetTenantId(), j.GetPostId(), j.GetRevision())] = res
}

func (p *fakePortal) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakePortal) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *fakePortal) GetPublishJob(_ context.Context, req *portalv1.GetPublishJobRequest) (*portalv1.GetPublishJobResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.reqs = append(p.reqs, proto.Clone(req).(*portalv1.GetPublishJobRequest))
	if p.err != nil {
		return nil, p.err
	}
	res, ok := p.jobs[jobID(req.GetTenantId(), req.GetPostId(), req.GetRevision())]
	if !ok {
		return nil, errs.E(errs.NotFound, "post not found")
	}
	res = proto.Clone(res).(*portalv1.GetPublishJobResponse)
	if req.GetDueAt() != nil && res.GetJob() != nil {
		var left []*portalv1.Target
		for _, t := range res.GetJob().GetTargets() {
			if !p.settled[firingTarget(req.GetTenantId(), req.GetPostId(), req.GetRevision(), req.GetDueAt().AsTime(), t.GetAccountId())] {
				left = append(left, t)
			}
		}
		if len(left) == 0 {
			return &portalv1.GetPublishJobResponse{Reason: "this firing of the post has no pending target"}, nil
		}
		res.Job.Targets = left
	}
	for _, t := range res.GetJob().GetTargets() {
		p.overlayLocked(t)
	}
	return res, nil
}

// Requests returns the GetPublishJob requests received so far.
func (p *fakePortal) Requests() []*portalv1.GetPublishJobRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*portalv1.GetPublishJobRequest(nil), p.reqs...)
}

func (p *fakePortal) ListRecipients(context.Context, *portalv1.ListRecipientsRequest) (*portalv1.ListRecipientsResponse, error) {
	return nil, errs.E(errs.Internal, "not used by publisher")
}

// step is one scripted answer of the fake network.
type step struct {
	// err is returned instead of success.
	err error
	// post makes the network publish before answering err: the answer got
	// lost on the way back.
	post bool
}

// call is one Publish the fake network received.
type call struct {
	Account string
	Key     string
	Text    string
	Media   [][]byte
	At      time.Time
	// ReplyTo and Root are the remote ids the post replies to ("" for
	// none); AsComment is the post's.
	ReplyTo, Root string
	AsComment     bool
}

// fakeNetwork is a provider that deduplicates by idempotency key the way
// Mastodon does, answers from a script per account, and keeps a request
// budget per account that it reports like rate-limit headers.
type fakeNetwork struct {
	name string

	mu       sync.Mutex
	scripts  map[string][]step
	calls    []call
	statuses map[string]provider.Result // by idempotency key
	// byText scripts the answers to posts with a given text, before the
	// account's script.
	byText  map[string][]step
	seq     int
	budgets map[string]*RateLimit
	// latency delays every publish, as a distant network would.
	latency time.Duration
}

func newFakeNetwork(name string) *fakeNetwork {
	return &fakeNetwork{name: name, scripts: map[string][]step{}, statuses: map[string]provider.Result{}, budgets: map[string]*RateLimit{}}
}

// script queues answers for an account's next calls; after them, calls
// succeed.
func (n *fakeNetwork) script(account string, steps ...step) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.scripts[account] = append(n.scripts[account], steps...)
}

// scriptText queues answers for the next posts with text.
func (n *fakeNetwork) scriptText(text string, steps ...step) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byText == nil {
		n.byText = map[string][]step{}
	}
	n.byText[text] = append(n.byText[text], steps...)
}

// budget gives an account a request budget reported after every call.
func (n *fakeNetwork) budget(account string, remaining int, reset time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.budgets[account] = &RateLimit{Limit: 300, Remaining: remaining, Reset: reset}
}

func (n *fakeNetwork) Calls() []call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]call(nil), n.calls...)
}

// Statuses counts the distinct posts the network holds.
func (n *fakeNetwork) Statuses() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.statuses)
}

func (n *fakeNetwork) Network() string { return n.name }

// DedupesByKey: the fake deduplicates as Mastodon does.
func (n *fakeNetwork) DedupesByKey() bool { return true }

func (n *fakeNetwork) Limits() provider.Limits {
	return provider.Limits{MaxTextChars: 20, MaxMedia: 2, MaxImageBytes: 1 << 20, ImageTypes: []string{"image/png"},
		Threads: true, FirstComment: true}
}

func (n *fakeNetwork) Validate(text string, media []provider.Media) []provider.Violation {
	var out []provider.Violation
	if len([]rune(text)) > 20 {
		out = append(out, provider.Violation{Field: "text", Message: "is longer than 20 characters"})
	}
	for i, m := range media {
		if m.MimeType != "image/png" {
			out = append(out, provider.Violation{Field: fmt.Sprintf("media[%d]", i), Message: "must be a PNG image"})
		}
	}
	return out
}

func (n *fakeNetwork) Publish(ctx context.Context, acct provider.Account, p provider.Post) (provider.Result, error) {
	if n.latency > 0 {
		select {
		case <-time.After(n.latency):
		case <-ctx.Done():
			return provider.Result{}, &provider.Error{Kind: provider.Unknown, Err: ctx.Err()}
		}
	}
	c := call{Account: acct.ID, Key: p.IdempotencyKey, Text: p.Text, At: time.Now(), AsComment: p.AsComment}
	if p.ReplyTo != nil {
		c.ReplyTo = p.ReplyTo.RemoteID
	}
	if p.Root != nil {
		c.Root = p.Root.RemoteID
	}
	for _, m := range p.Media {
		rc, err := m.Open(ctx)
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: "reading media", Err: err}
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: "reading media", Err: err}
		}
		c.Media = append(c.Media, b)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, c)
	if b := n.budgets[acct.ID]; b != nil {
		if b.Remaining <= 0 && time.Now().Before(b.Reset) {
			return provider.Result{}, &provider.Error{Kind: provider.RateLimited, Message: "too many requests", Status: 429, RetryAfter: b.Reset}
		}
		b.Remaining--
	}
	if s := n.byText[p.Text]; len(s) > 0 {
		n.byText[p.Text] = s[1:]
		if s[0].post {
			n.publishLocked(p.IdempotencyKey)
		}
		return provider.Result{}, s[0].err
	}
	if s := n.scripts[acct.ID]; len(s) > 0 {
		n.scripts[acct.ID] = s[1:]
		if s[0].post {
			n.publishLocked(p.IdempotencyKey)
		}
		return provider.Result{}, s[0].err
	}
	return n.publishLocked(p.IdempotencyKey), nil
}

func (n *fakeNetwork) publishLocked(key string) provider.Result {
	if r, ok := n.statuses[key]; ok {
		return r
	}
	n.seq++
	r := provider.Result{RemoteID: fmt.Sprint(n.seq), RemoteURL: fmt.Sprintf("https://social.example/@x/%d", n.seq), Ref: fmt.Sprintf("ref-%d", n.seq)}
	n.statuses[key] = r
	return r
}

// RateLimit makes fakeNetwork a RateLimitReporter.
func (n *fakeNetwork) RateLimit(acct provider.Account) (RateLimit, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b := n.budgets[acct.ID]; b != nil {
		return *b, true
	}
	return RateLimit{}, false
}

func (n *fakeNetwork) VerifyCredentials(context.Context, provider.Account) (provider.Profile, error) {
	return provider.Profile{}, errors.New("not used by publisher")
}

var (
	_ provider.Provider = (*fakeNetwork)(nil)
	_ RateLimitReporter = (*fakeNetwork)(nil)
)

func perr(k provider.Kind, msg string) *provider.Error {
	return &provider.Error{Kind: k, Message: msg}
}

// testLogger discards the service's log, unless HERALD_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
