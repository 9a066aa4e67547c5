package trigger

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mmcdole/gofeed"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// feedUserAgent is what Herald calls itself to the feeds it polls.
const feedUserAgent = "Herald-Feed-Poller/1"

// feedAccept prefers feeds, but takes whatever the server has.
const feedAccept = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"

// backoffCeiling is the longest wait after errors, unless the feed's own
// interval is longer.
const backoffCeiling = 24 * time.Hour

// commitRetry is how long a feed whose poll could not be committed (the
// database failed) waits before it is fetched again.
const commitRetry = 5 * time.Second

// feedPoller polls the due feeds of the shards its engine owns, at most
// cfg.FeedPolls at a time. The database says which feeds are due; memory
// holds only the polls in flight, so it does not grow with the feeds.
type feedPoller struct {
	e      *engine
	cfg    Config
	client *http.Client
	clock  clockwork.Clock
	log    *slog.Logger
	parser func() *gofeed.Parser

	mu sync.Mutex
	// inflight cancels the poll in flight of a feed (by key).
	inflight map[string]context.CancelFunc
	// hold keeps a feed whose commit failed from being fetched again at once.
	hold map[string]time.Time
	// hosts counts the polls in flight per host, capped at
	// cfg.FeedPollsPerHost so that many feeds on one site (a blog platform,
	// a news site's sections) do not hit it all at once; capped is how
	// many due feeds the last dispatch left for that reason, so the next
	// one reads past them.
	hosts  map[string]int
	capped int
	// settled holds the feeds whose poll ended, or that were changed, since
	// the running dispatch began: the row it read may predate that, so it
	// leaves them to the next dispatch rather than fetch them twice.
	settled map[string]bool
	// dispatching serialises dispatches, so settled means "since this
	// dispatch began".
	dispatching sync.Mutex
	// Counters for Stats; rounds counts the looks for due feeds.
	polls, notModified, failed, items, rounds int64
	// dropped counts polls whose fetch was made but whose commit was not:
	// fenced (the shard moved meanwhile) or stale (the feed changed).
	dropped int64

	wake chan struct{}
	wg   sync.WaitGroup
}

func newFeedPoller(e *engine, client *http.Client) *feedPoller {
	return &feedPoller{
		e: e, cfg: e.cfg, client: client, clock: e.clock, log: e.log,
		parser:   gofeed.NewParser,
		inflight: map[string]context.CancelFunc{},
		hold:     map[string]time.Time{},
		hosts:    map[string]int{},
		settled:  map[string]bool{},
		wake:     make(chan struct{}, 1),
	}
}

// kick makes the poller look for due feeds now.
func (p *feedPoller) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// changed tells the poller a feed was changed, paused or deleted: its poll
// in flight, if any, is abandoned (it could not commit anyway), and the
// feed is looked at again now.
func (p *feedPoller) changed(key string) {
	p.mu.Lock()
	if cancel := p.inflight[key]; cancel != nil {
		cancel()
	}
	delete(p.hold, key)
	p.settled[key] = true
	p.mu.Unlock()
	p.kick()
}

// run starts polls of due feeds until ctx ends, then waits for the polls in
// flight (cancelled with ctx) to stop.
func (p *feedPoller) run(ctx context.Context) {
	defer p.wg.Wait()
	timer := p.clock.NewTimer(time.Hour)
	for {
		p.dispatch(ctx)
		timer.Reset(p.cfg.Poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.wake:
		case <-timer.Chan():
		}
		timer.Stop()
	}
}

// dispatch starts a poll for each due feed of an owned shard, as far as
// the concurrency bound allows. A poll that ends kicks the poller, so
// feeds left waiting for a free slot start then.
func (p *feedPoller) dispatch(ctx context.Context) {
	p.dispatching.Lock()
	defer p.dispatching.Unlock()
	p.mu.Lock()
	clear(p.settled)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.rounds++
		p.mu.Unlock()
	}()
	owned := p.e.ownedShards()
	if len(owned) == 0 || ctx.Err() != nil {
		return
	}
	now := p.clock.Now()
	p.mu.Lock()
	busy := len(p.inflight)
	for k, until := range p.hold {
		if !now.Before(until) {
			delete(p.hold, k)
		}
	}
	held := len(p.hold)
	capped := p.capped
	p.mu.Unlock()
	free := p.cfg.FeedPolls - busy
	if free <= 0 {
		return
	}
	shards := make([]int, 0, len(owned))
	for n := range owned {
		shards = append(shards, n)
	}
	slices.Sort(shards)
	args := []any{store.ToMicros(now)}
	marks := make([]string, len(shards))
	for i, n := range shards {
		marks[i] = "?"
		args = append(args, n)
	}
	// Feeds in flight, held or capped by their host are still due in the
	// database: read past them.
	args = append(args, free+busy+held+capped)
	rows, err := p.e.db.Query(ctx, `SELECT `+feedColumns+` FROM trigger_feeds
		WHERE paused = FALSE AND next_poll_at <= ? AND shard IN (`+strings.Join(marks, ", ")+`)
		ORDER BY next_poll_at, tenant_id, id LIMIT ?`, args...)
	if err == nil {
		var due []feed
		if due, err = scanFeeds(rows); err == nil {
			p.start(ctx, due, owned, free)
		}
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("trigger: looking for due feeds", "err", err)
	}
}

func (p *feedPoller) start(ctx context.Context, due []feed, owned map[int]int64, free int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.capped = 0
	for _, f := range due {
		if free == 0 {
			return
		}
		key := f.key()
		if p.inflight[key] != nil || !p.hold[key].IsZero() || p.settled[key] {
			continue
		}
		token, ok := owned[f.shard]
		if !ok {
			continue
		}
		host := feedHost(f.url)
		if p.hosts[host] >= p.cfg.FeedPollsPerHost {
			p.capped++
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		p.inflight[key] = cancel
		p.hosts[host]++
		free--
		p.wg.Go(func() {
			defer func() {
				p.mu.Lock()
				delete(p.inflight, key)
				if p.hosts[host]--; p.hosts[host] <= 0 {
					delete(p.hosts, host)
				}
				p.settled[key] = true
				p.mu.Unlock()
				cancel()
				p.kick()
			}()
			p.poll(pctx, f, token)
		})
	}
}

// feedHost is the host a feed's polls are counted against: its host name
// in lower case, or the whole URL when it does not parse (it was checked
// when stored, so that does not happen).
func feedHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return raw
	}
	return strings.ToLower(u.Hostname())
}

// movedPermanently returns the URL a response was finally fetched from
// when every redirect on the way was permanent (301 or 308), else "". The
// feed then lives there: polling the old address forever would cost a
// redirect a poll and break the day the old address stops redirecting.
func movedPermanently(resp *http.Response) string {
	req := resp.Request
	if req == nil || req.Response == nil {
		return "" // not redirected
	}
	final := req.URL.String()
	for r := req; r.Response != nil; r = r.Response.Request {
		if c := r.Response.StatusCode; c != http.StatusMovedPermanently && c != http.StatusPermanentRedirect {
			return ""
		}
	}
	if checkFeedURL(final) != "" {
		return ""
	}
	return final
}

// fetched is the outcome of one request for a feed.
type fetched struct {
	notModified        bool
	doc                *gofeed.Feed
	etag, lastModified string
	// movedTo is the feed's new URL when the server moved it permanently.
	movedTo string
	// problem is set when the poll failed: safe to show to the user.
	problem    string
	retryAfter time.Duration
}

// poll fetches a feed and commits what it found. A poll abandoned (the
// feed changed, the engine stops) commits nothing.
func (p *feedPoller) poll(ctx context.Context, f feed, token int64) {
	r := p.fetch(ctx, f)
	if ctx.Err() != nil {
		return
	}
	err := p.commit(context.WithoutCancel(ctx), f, token, r)
	if err != nil {
		p.mu.Lock()
		p.hold[f.key()] = p.clock.Now().Add(commitRetry)
		p.mu.Unlock()
		p.log.Warn("trigger: committing a feed poll", "tenant", f.tenantID, "feed", f.id, "err", err)
	}
}

func (p *feedPoller) fetch(ctx context.Context, f feed) fetched {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.FeedTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return fetched{problem: "the feed's URL cannot be fetched"}
	}
	req.Header.Set("User-Agent", feedUserAgent)
	req.Header.Set("Accept", feedAccept)
	if f.primed {
		if f.etag != "" {
			req.Header.Set("If-None-Match", f.etag)
		}
		if f.lastModified != "" {
			req.Header.Set("If-Modified-Since", f.lastModified)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fetched{problem: p.describe(err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return fetched{notModified: true, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified"),
			movedTo: movedPermanently(resp)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		out := fetched{problem: fmt.Sprintf("the feed's server answered HTTP %s", resp.Status)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			out.retryAfter = retryAfter(resp.Header.Get("Retry-After"), p.clock.Now())
		}
		return out
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.FeedMaxBytes+1))
	if err != nil {
		return fetched{problem: p.describe(err)}
	}
	if int64(len(body)) > p.cfg.FeedMaxBytes {
		return fetched{problem: fmt.Sprintf("the feed is larger than %s", byteSize(p.cfg.FeedMaxBytes))}
	}
	doc, err := p.parser().Parse(bytes.NewReader(body))
	if err != nil {
		return fetched{problem: "the document is not an RSS, Atom or JSON feed"}
	}
	return fetched{doc: doc, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified"),
		movedTo: movedPermanently(resp)}
}

// describe turns a request error into a message for the user: what went
// wrong, never internals.
func (p *feedPoller) describe(err error) string {
	if e, ok := errs.As(err); ok && e.Message != "" {
		// Refusals by the outbound policy, too many redirects.
		return e.Message
	}
	var (
		dns    *net.DNSError
		netErr net.Error
		cert   *tls.CertificateVerificationError
		hdr    tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("the feed did not answer within %s", p.cfg.FeedTimeout)
	case errors.As(err, &dns):
		return "the feed's host name could not be resolved"
	case errors.As(err, &cert):
		return "the feed's TLS certificate could not be verified"
	case errors.As(err, &hdr):
		return "the feed's server does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the feed's server refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
		return "the feed's server closed the connection"
	}
	return "the feed could not be fetched"
}

func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// feedBackoff is the wait after the n-th error in a row: the feed's
// interval, doubled with each further error, up to a day (or the interval
// when it is longer), plus up to a quarter more of jitter so failing feeds
// do not come back together; never less than the server's Retry-After.
// It is never shorter than the interval: errors do not make polls more
// frequent.
func feedBackoff(interval time.Duration, n int, after time.Duration, jitter float64) time.Duration {
	ceiling := max(backoffCeiling, interval)
	d := interval
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	d += time.Duration(float64(d) / 4 * jitter)
	return max(d, min(after, ceiling))
}

// commit writes a poll's outcome in one transaction: the shard's fencing
// check, the feed's poll state (only over the version the poll started
// from, so a feed changed, paused or deleted meanwhile, or polled by
// another engine, takes nothing), the new items marked seen and their
// feed.item events in the outbox.
func (p *feedPoller) commit(ctx context.Context, f feed, token int64, r fetched) error {
	var (
		fenced, stale bool
		emitted       int64
	)
	err := p.e.db.Tx(ctx, func(tx *store.Tx) error {
		fenced, stale, emitted = false, false, 0
		now := p.clock.Now()
		nowUS := store.ToMicros(now)
		res, err := tx.Exec(ctx, `UPDATE trigger_shards SET fenced_at = ? WHERE shard = ? AND owner = ? AND token = ?`,
			nowUS, f.shard, p.cfg.NodeID, token)
		if err != nil {
			return fmt.Errorf("fencing shard %d: %w", f.shard, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			fenced = true
			return nil
		}
		interval := time.Duration(f.interval) * time.Microsecond
		set := `last_polled_at = ?, version = version + 1, poll_token = ?`
		args := []any{nowUS, token}
		switch {
		case r.problem != "":
			n := f.errors + 1
			next := now.Add(feedBackoff(interval, n, r.retryAfter, rand.Float64()))
			set += `, consecutive_errors = ?, last_error = ?, next_poll_at = ?`
			args = append(args, n, r.problem, store.ToMicros(next))
		default:
			set += `, consecutive_errors = 0, last_error = '', next_poll_at = ?`
			args = append(args, store.ToMicros(now.Add(interval)))
			if r.movedTo != "" && r.movedTo != f.url {
				// Its items stay seen: the feed moved, it is not a new one.
				set += `, url = ?`
				args = append(args, r.movedTo)
			}
			if r.doc != nil {
				// A full response replaces the validators, even with none.
				set += `, etag = ?, last_modified = ?, primed = TRUE`
				args = append(args, r.etag, r.lastModified)
			} else if r.etag != "" {
				set += `, etag = ?`
				args = append(args, r.etag)
			}
		}
		args = append(args, f.tenantID, f.id, f.version)
		res, err = tx.Exec(ctx, `UPDATE trigger_feeds SET `+set+`
			WHERE tenant_id = ? AND id = ? AND version = ? AND paused = FALSE`, args...)
		if err != nil {
			return fmt.Errorf("writing feed poll state: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			stale = true
			return nil
		}
		if r.doc == nil {
			return nil
		}
		found, sent, err := p.record(ctx, tx, f, r.doc, now)
		if err != nil {
			return err
		}
		emitted = sent
		if found > 0 {
			_, err = tx.Exec(ctx, `UPDATE trigger_feeds SET items_seen = items_seen + ?, items_emitted = items_emitted + ?
				WHERE tenant_id = ? AND id = ?`, found, sent, f.tenantID, f.id)
		}
		return err
	})
	if err != nil {
		return err
	}
	if fenced || stale {
		p.mu.Lock()
		p.dropped++
		p.mu.Unlock()
	}
	switch {
	case fenced:
		p.log.Info("trigger: feed poll fenced: the shard has a newer holder", "shard", f.shard, "feed", f.id)
		p.e.dropFenced(f.shard, token)
	case stale:
		p.log.Debug("trigger: feed changed during its poll; poll dropped", "tenant", f.tenantID, "feed", f.id)
	default:
		p.mu.Lock()
		p.polls++
		if r.notModified {
			p.notModified++
		}
		if r.problem != "" {
			p.failed++
		}
		p.items += emitted
		p.mu.Unlock()
		if r.problem != "" {
			p.log.Debug("trigger: feed poll failed", "tenant", f.tenantID, "feed", f.id, "problem", r.problem)
		}
	}
	return nil
}

// record marks the document's items seen, in tx, and writes a feed.item
// event for each new one that is to be acted on: on the feed's first poll,
// the newest backfill ones; later, every new one up to FeedMaxNewItems
// (the newest; the rest are only marked seen). Items still in the document
// have their last_seen_at refreshed; items absent long enough are pruned.
// It returns how many items were new and how many became events.
func (p *feedPoller) record(ctx context.Context, tx *store.Tx, f feed, doc *gofeed.Feed, now time.Time) (found, sent int64, err error) {
	nowUS := store.ToMicros(now)
	entries := entriesOf(doc)
	known := map[string]bool{}
	for chunk := range slices.Chunk(entries, fireChunk) {
		q, args := inKeys(`SELECT item_key FROM trigger_feed_items WHERE tenant_id = ? AND feed_id = ? AND item_key IN `, f, chunk)
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return 0, 0, err
			}
			known[k] = true
		}
		if err := rows.Close(); err != nil {
			return 0, 0, err
		}
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
		q, args = inKeys(`UPDATE trigger_feed_items SET last_seen_at = ? WHERE tenant_id = ? AND feed_id = ? AND item_key IN `, f, chunk)
		if _, err := tx.Exec(ctx, q, append([]any{nowUS}, args...)...); err != nil {
			return 0, 0, err
		}
	}
	var fresh []feedEntry
	for _, en := range entries {
		if !known[en.key] {
			fresh = append(fresh, en)
		}
	}
	quota := p.cfg.FeedMaxNewItems
	if !f.primed {
		quota = f.backfill
	}
	if len(fresh) > quota && f.primed {
		p.log.Info("trigger: feed has more new items than a poll acts on; the oldest are only marked seen",
			"tenant", f.tenantID, "feed", f.id, "new", len(fresh), "acted_on", quota)
	}
	base, _ := url.Parse(f.url)
	// Oldest first, so the events go out in the order the items came.
	for i := len(fresh) - 1; i >= 0; i-- {
		en := fresh[i]
		emit := i < quota
		res, err := tx.Exec(ctx, `INSERT INTO trigger_feed_items (tenant_id, feed_id, item_key, emitted, first_seen_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, feed_id, item_key) DO NOTHING`,
			f.tenantID, f.id, en.key, emit, nowUS, nowUS)
		if err != nil {
			return 0, 0, fmt.Errorf("marking a feed item seen: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, 0, err
		} else if n == 0 {
			continue
		}
		found++
		if !emit {
			continue
		}
		if _, err := p.e.box.Add(ctx, tx, bus.TopicFeedItem, en.event(f, base, now)); err != nil {
			return 0, 0, err
		}
		sent++
	}
	return found, sent, p.prune(ctx, tx, f, nowUS)
}

// prune forgets items that have been absent from the feed for longer than
// FeedForgetAfter, and the oldest absent ones beyond FeedKeepAbsent. Items
// in the document were just refreshed to now, so none of them is pruned.
func (p *feedPoller) prune(ctx context.Context, tx *store.Tx, f feed, nowUS int64) error {
	cutoff := nowUS - p.cfg.FeedForgetAfter.Microseconds()
	var nth int64
	err := tx.QueryRow(ctx, `SELECT last_seen_at FROM trigger_feed_items
		WHERE tenant_id = ? AND feed_id = ? AND last_seen_at < ?
		ORDER BY last_seen_at DESC LIMIT 1 OFFSET ?`, f.tenantID, f.id, nowUS, p.cfg.FeedKeepAbsent).Scan(&nth)
	switch {
	case errors.Is(err, store.ErrNoRows):
	case err != nil:
		return err
	default:
		cutoff = max(cutoff, nth+1)
	}
	_, err = tx.Exec(ctx, `DELETE FROM trigger_feed_items WHERE tenant_id = ? AND feed_id = ? AND last_seen_at < ?`,
		f.tenantID, f.id, min(cutoff, nowUS))
	return err
}

// inKeys completes q with a parenthesised list of the entries' keys.
func inKeys(q string, f feed, chunk []feedEntry) (string, []any) {
	var b strings.Builder
	b.WriteString(q)
	b.WriteString("(")
	args := make([]any, 0, 2+len(chunk))
	args = append(args, f.tenantID, f.id)
	for i, en := range chunk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, en.key)
	}
	b.WriteString(")")
	return b.String(), args
}

// FeedStats is what an engine's feed poller did since it was created.
type FeedStats struct {
	// Polls counts polls committed; NotModified those answered 304, Failed
	// those that failed. Items counts feed.item events written.
	Polls, NotModified, Failed, Items int64
	// Dropped counts polls fetched but not committed: fenced (the shard
	// moved to another node meanwhile, which polls it instead) or stale.
	Dropped int64
	// InFlight is how many polls run now; Rounds how many times the poller
	// looked for due feeds; Capped how many due feeds the last look left
	// waiting because their host had FeedPollsPerHost polls in flight.
	InFlight, Capped int
	Rounds           int64
}

func (p *feedPoller) stats() FeedStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return FeedStats{Polls: p.polls, NotModified: p.notModified, Failed: p.failed, Items: p.items, Dropped: p.dropped,
		InFlight: len(p.inflight), Capped: p.capped, Rounds: p.rounds}
}
