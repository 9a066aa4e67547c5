package notify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/bus"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/store"
)

// maxExcerpt bounds the response body kept per attempt.
const maxExcerpt = 1024

// dueDelivery is one claimed delivery with what posting it needs.
type dueDelivery struct {
	id, tenantID, workspaceID, endpointID, eventID, topic string
	payload                                               []byte
	attempts                                              int // including the one being made
	claim                                                 string
	deadline                                              time.Time
	kind, url                                             string
	secrets                                               []string
}

// attemptResult is what one POST gave.
type attemptResult struct {
	at        time.Time
	status    int
	latency   time.Duration
	response  string
	err       error
	permanent bool // no retry can help: the address is refused by policy
}

func (r attemptResult) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

func (r attemptResult) errText() string {
	switch {
	case r.err != nil:
		return errorText(r.err)
	case r.ok():
		return ""
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("answered %d: redirects are not followed, use the final address", r.status)
	}
	return fmt.Sprintf("answered %d", r.status)
}

// hookLoop posts due deliveries until ctx is cancelled. Concurrency
// workers post what the loop claims; up to Batch deliveries are claimed and
// not yet recorded at once, and at most perEndpoint of them of one
// endpoint, so an endpoint that times out holds a few workers and not the
// others' deliveries. Outcomes are recorded in batches of what finished
// together; a claim's place is free again once its outcome is stored.
func (s *Service) hookLoop(ctx context.Context) {
	batch := s.cfg.Webhooks.Batch
	p := &hookPool{s: s, busy: map[string]int{},
		queue: make(chan dueDelivery, batch), done: make(chan hookOutcome, batch)}
	for range s.cfg.Webhooks.Concurrency {
		p.posting.Go(func() {
			for d := range p.queue {
				p.done <- hookOutcome{d, s.post(ctx, d)}
			}
		})
	}
	recorded := make(chan struct{})
	go func() { defer close(recorded); p.record() }()
	defer func() {
		close(p.queue)
		p.posting.Wait()
		close(p.done)
		<-recorded
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var pruned time.Time
	for {
		if time.Since(pruned) >= pruneEvery {
			if err := s.pruneHooks(ctx, time.Now().Add(-s.cfg.Webhooks.Retention)); err != nil && ctx.Err() == nil {
				s.log.Warn("notify: pruning the webhook log", "err", err)
			}
			pruned = time.Now()
		}
		free, full, idle := p.free()
		// Claims are made in bulk, not one place at a time: each is a
		// transaction.
		claimable := free > 0 && (idle || free >= max(1, batch/4))
		if claimable {
			n, err := p.start(ctx, free, full)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("notify: delivering webhooks", "err", err)
			}
			if err == nil && n == free {
				continue // more may be due
			}
		}
		wait := s.cfg.Webhooks.Poll
		if next, ok := s.nextHookDue(ctx); ok && claimable {
			wait = max(min(wait, time.Until(next)), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.hookWake:
		case <-timer.C:
		}
	}
}

// perEndpoint is how many claimed deliveries of one endpoint may wait for
// or be in a POST at once.
func (s *Service) perEndpoint() int { return max(1, s.cfg.Webhooks.Concurrency/4) }

// hookPool is the delivery loop's claims and workers.
type hookPool struct {
	s       *Service
	posting sync.WaitGroup
	queue   chan dueDelivery
	done    chan hookOutcome

	mu      sync.Mutex
	running int            // claimed, not yet recorded
	busy    map[string]int // the same, by endpoint
}

type hookOutcome struct {
	d dueDelivery
	r attemptResult
}

// free says how many more deliveries may be claimed, which endpoints
// have all the claims they may have, and whether nothing is under way.
func (p *hookPool) free() (int, []string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var full []string
	for e, n := range p.busy {
		if n >= p.s.perEndpoint() {
			full = append(full, e)
		}
	}
	return p.s.cfg.Webhooks.Batch - p.running, full, p.running == 0
}

// start claims up to n due deliveries, none of the full endpoints', and
// queues them for the workers.
func (p *hookPool) start(ctx context.Context, n int, full []string) (int, error) {
	p.mu.Lock()
	busy := maps.Clone(p.busy)
	p.mu.Unlock()
	batch, err := p.s.claimHooks(ctx, "", n, full, busy)
	if err != nil {
		return 0, err
	}
	for _, d := range batch {
		p.mu.Lock()
		p.running++
		p.busy[d.endpointID]++
		p.mu.Unlock()
		p.queue <- d // never blocks: running ≤ Batch, the queue's size
	}
	return len(batch), nil
}

// record stores outcomes as they come, those that came together in one
// transaction, until done is closed. A POST cut short by shutdown is not
// recorded: its claim lapses and the delivery is tried again, by this node
// after a restart or by another.
func (p *hookPool) record() {
	for first := range p.done {
		batch := []hookOutcome{first}
	more:
		for len(batch) < p.s.cfg.Webhooks.Batch {
			select {
			case o, ok := <-p.done:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		var ds []dueDelivery
		var rs []attemptResult
		for _, o := range batch {
			if errors.Is(o.r.err, context.Canceled) {
				continue
			}
			ds, rs = append(ds, o.d), append(rs, o.r)
		}
		if len(ds) > 0 {
			if err := p.s.recordHooks(context.Background(), ds, rs); err != nil {
				p.s.log.Warn("notify: recording webhook deliveries", "err", err)
			}
		}
		p.mu.Lock()
		for _, o := range batch {
			p.running--
			if p.busy[o.d.endpointID]--; p.busy[o.d.endpointID] <= 0 {
				delete(p.busy, o.d.endpointID)
			}
		}
		p.mu.Unlock()
		p.s.wakeHooks()
	}
}

// pruneEvery is how often the delivery loop drops the log past Retention.
const pruneEvery = time.Hour

// pruneHooks deletes finished deliveries created before cutoff, with their
// attempts, a bounded number at a time so that no transaction grows large.
func (s *Service) pruneHooks(ctx context.Context, cutoff time.Time) error {
	for {
		ids, err := queryStrings(ctx, s.db, `SELECT delivery_id FROM notify_deliveries
			WHERE status <> ? AND created_at < ? ORDER BY delivery_id LIMIT 500`, hookPending, store.ToMicros(cutoff))
		if err != nil || len(ids) == 0 {
			return err
		}
		args := make([]any, len(ids))
		for i, v := range ids {
			args[i] = v
		}
		in := placeholders(len(ids))
		err = s.db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM notify_attempts WHERE delivery_id IN (`+in+`)`, args...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM notify_deliveries WHERE delivery_id IN (`+in+`) AND status <> ?`, append(args, hookPending)...)
			return err
		})
		if err != nil || len(ids) < 500 {
			return err
		}
	}
}

// nextHookDue is when the earliest pending delivery is due. Those of
// disabled endpoints wait for the endpoint, not the clock: counting them
// would wake the loop for rows it cannot claim.
func (s *Service) nextHookDue(ctx context.Context) (time.Time, bool) {
	var at *int64
	err := s.db.QueryRow(ctx, `SELECT MIN(d.next_try_at) FROM notify_deliveries d
		JOIN notify_endpoints e ON e.endpoint_id = d.endpoint_id
		WHERE d.status = ? AND e.enabled = ?`, hookPending, true).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false
	}
	return store.FromMicros(*at), true
}

// claimHooks takes due deliveries of enabled endpoints for this process
// (only deliveryID when set). As with emails, a claim counts as an attempt
// and moves next_try_at past the time a POST may take, so of two nodes
// only the first to update a row posts it, and a crashed node's claim
// lapses. The claim's token, set in the same statement, is what lets this
// attempt, and no later one, record its outcome. A delivery may so be
// posted twice, with the same event id; never zero times.
//
// The loop passes the endpoints that have all the POSTs under way they may
// have (full) and how many each has (busy): a claim takes no more of one
// endpoint's deliveries than would fill it.
func (s *Service) claimHooks(ctx context.Context, deliveryID string, limit int, full []string, busy map[string]int) ([]dueDelivery, error) {
	now := time.Now()
	lease := store.ToMicros(now.Add(2*s.cfg.Webhooks.Timeout + time.Second))
	token := id.New("clm")
	// One delivery asked for by id is taken whenever it is due: SendTest
	// queues its delivery in the future, so the loop leaves it alone.
	dueBy := store.ToMicros(now)
	if deliveryID != "" {
		dueBy = math.MaxInt64
	}
	var claimed []dueDelivery
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		claimed = claimed[:0]
		q := `SELECT d.delivery_id, d.endpoint_id FROM notify_deliveries d JOIN notify_endpoints e ON e.endpoint_id = d.endpoint_id
			WHERE d.status = ? AND d.next_try_at <= ? AND e.enabled = ?`
		args := []any{hookPending, dueBy, true}
		if deliveryID != "" {
			q += ` AND d.delivery_id = ?`
			args = append(args, deliveryID)
		}
		if len(full) > 0 {
			q += ` AND d.endpoint_id NOT IN (` + placeholders(len(full)) + `)`
			for _, e := range full {
				args = append(args, e)
			}
		}
		// Some more than the limit, for when one endpoint has many due.
		q += ` ORDER BY d.next_try_at, d.delivery_id LIMIT ?`
		args = append(args, 4*limit)
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		taken := maps.Clone(busy)
		if taken == nil {
			taken = map[string]int{}
		}
		var ids []string
		for rows.Next() && len(ids) < limit {
			var dID, eID string
			if err := rows.Scan(&dID, &eID); err != nil {
				rows.Close()
				return err
			}
			if taken[eID] >= s.perEndpoint() && deliveryID == "" {
				continue
			}
			taken[eID]++
			ids = append(ids, dID)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		in := placeholders(len(ids))
		// Guarded again by status and due time: a row another node claimed
		// meanwhile has moved on and is left to it.
		upd := []any{lease, token}
		for _, i := range ids {
			upd = append(upd, i)
		}
		upd = append(upd, hookPending, dueBy)
		if _, err := tx.Exec(ctx, `UPDATE notify_deliveries SET attempts = attempts + 1, next_try_at = ?, claim = ?
			WHERE delivery_id IN (`+in+`) AND status = ? AND next_try_at <= ?`, upd...); err != nil {
			return err
		}
		sel := append([]any{token}, upd[2:2+len(ids)]...)
		rows, err = tx.Query(ctx, `SELECT d.delivery_id, d.tenant_id, d.workspace_id, d.endpoint_id, d.event_id, d.topic, d.payload,
				d.attempts, d.deadline_at, e.kind, e.url, e.secret, e.previous_secret, e.previous_until
			FROM notify_deliveries d JOIN notify_endpoints e ON e.endpoint_id = d.endpoint_id
			WHERE d.claim = ? AND d.delivery_id IN (`+in+`) ORDER BY d.delivery_id`, sel...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				d                  dueDelivery
				payload, sec, prev string
				deadline, prevTill int64
			)
			if err := rows.Scan(&d.id, &d.tenantID, &d.workspaceID, &d.endpointID, &d.eventID, &d.topic, &payload,
				&d.attempts, &deadline, &d.kind, &d.url, &sec, &prev, &prevTill); err != nil {
				return err
			}
			d.claim, d.payload, d.deadline = token, []byte(payload), store.FromMicros(deadline)
			if sec != "" {
				d.secrets = append(d.secrets, sec)
			}
			if prev != "" && prevTill > store.ToMicros(now) {
				d.secrets = append(d.secrets, prev)
			}
			claimed = append(claimed, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("notify: claiming webhook deliveries: %w", err)
	}
	return claimed, nil
}

func queryStrings(ctx context.Context, q store.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// post makes one attempt. Webhooks carry the Standard Webhooks headers:
// webhook-id (the event id, the same on every retry and redelivery, for the
// receiver to deduplicate by), webhook-timestamp and webhook-signature.
// Slack endpoints get the body alone.
func (s *Service) post(ctx context.Context, d dueDelivery) attemptResult {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Webhooks.Timeout)
	defer cancel()
	res := attemptResult{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.payload))
	if err != nil {
		res.err, res.permanent = err, true
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhooks/1")
	if d.kind == kindWebhook {
		ts := res.at.Unix()
		req.Header.Set("webhook-id", d.eventID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", signature(d.secrets, d.eventID, ts, d.payload))
	}
	resp, err := s.hooks.Do(req)
	res.latency = time.Since(res.at)
	if err != nil {
		res.err = err
		res.permanent = errors.Is(err, outbound.ErrRefused)
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
	res.response = excerpt(b)
	// Read a little more so the connection can be reused; a receiver
	// sending megabytes gets its connection closed instead.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res.latency = time.Since(res.at)
	return res
}

// excerpt keeps the valid UTF-8 start of a response body.
func excerpt(b []byte) string {
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(b)
}

// recordHook records one attempt (recordHooks).
func (s *Service) recordHook(ctx context.Context, d dueDelivery, r attemptResult) error {
	return s.recordHooks(ctx, []dueDelivery{d}, []attemptResult{r})
}

// disabledEndpoint is an endpoint a batch of outcomes disabled.
type disabledEndpoint struct {
	d            dueDelivery
	failingSince int64
}

// recordHooks logs each attempt and what it decides, in one transaction:
// delivered; retried after a backoff with full jitter, capped at the
// delivery's deadline; or dead once the retry window is over. It keeps the
// endpoints' failing_since and disables an endpoint that has failed for
// DisableAfter, then tells the workspace.
func (s *Service) recordHooks(ctx context.Context, batch []dueDelivery, results []attemptResult) error {
	now := time.Now()
	var disabled []disabledEndpoint
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		disabled = disabled[:0]
		if err := logAttempts(ctx, tx, batch, results); err != nil {
			return err
		}
		// An endpoint that answered once in the batch is not failing.
		answered := map[string]bool{}
		for i, d := range batch {
			if results[i].ok() {
				answered[d.endpointID] = true
			}
		}
		for i, d := range batch {
			if err := s.settle(ctx, tx, now, d, results[i]); err != nil {
				return fmt.Errorf("delivery %s: %w", d.id, err)
			}
			if results[i].ok() || answered[d.endpointID] {
				continue
			}
			off, failingSince, err := s.markFailing(ctx, tx, now, d, results[i])
			if err != nil {
				return fmt.Errorf("endpoint %s: %w", d.endpointID, err)
			}
			if off {
				disabled = append(disabled, disabledEndpoint{d, failingSince})
			}
		}
		if len(answered) > 0 {
			args := make([]any, 0, len(answered))
			for e := range answered {
				args = append(args, e)
			}
			if _, err := tx.Exec(ctx, `UPDATE notify_endpoints SET failing_since = 0
				WHERE endpoint_id IN (`+placeholders(len(args))+`) AND failing_since <> 0`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("notify: recording webhook deliveries: %w", err)
	}
	for _, e := range disabled {
		s.log.Warn("notify: endpoint disabled", "endpoint_id", e.d.endpointID, "workspace_id", e.d.workspaceID)
		if err := s.tellDisabled(ctx, e.d, e.failingSince); err != nil {
			s.log.Error("notify: telling the workspace its endpoint was disabled", "endpoint_id", e.d.endpointID, "err", err)
		}
	}
	return nil
}

// logAttempts adds a batch's attempts to the log in one statement.
func logAttempts(ctx context.Context, tx *store.Tx, batch []dueDelivery, results []attemptResult) error {
	const cols = 7
	args := make([]any, 0, cols*len(batch))
	for i, d := range batch {
		r := results[i]
		args = append(args, id.New("att"), d.id, store.ToMicros(r.at), r.status, r.latency.Milliseconds(), r.response, r.errText())
	}
	row := "(" + placeholders(cols) + ")"
	_, err := tx.Exec(ctx, `INSERT INTO notify_attempts
		(attempt_id, delivery_id, attempted_at, status_code, latency_ms, response, error)
		VALUES `+strings.TrimSuffix(strings.Repeat(row+", ", len(batch)), ", "), args...)
	return err
}

// settle stores what one attempt decides for its delivery, if the claim is
// still the delivery's: if it lapsed and another attempt took the
// delivery (another node, a manual re-send), that attempt decides.
func (s *Service) settle(ctx context.Context, tx *store.Tx, now time.Time, d dueDelivery, r attemptResult) error {
	set := `last_status_code = ?, last_latency_ms = ?, last_error = ?`
	args := []any{r.status, r.latency.Milliseconds(), r.errText()}
	switch {
	case r.ok():
		set += `, status = ?, delivered_at = ?`
		args = append(args, hookDelivered, store.ToMicros(now))
	case r.permanent || !now.Before(d.deadline):
		s.log.Warn("notify: webhook delivery given up", "delivery_id", d.id, "endpoint_id", d.endpointID,
			"attempts", d.attempts, "err", r.errText())
		set += `, status = ?`
		args = append(args, hookDead)
	default:
		wait := fullJitter(expBackoff(s.cfg.Webhooks.RetryMin, s.cfg.Webhooks.RetryMax, d.attempts))
		next := min(store.ToMicros(now.Add(wait)), store.ToMicros(d.deadline))
		set += `, next_try_at = ?`
		args = append(args, next)
	}
	args = append(args, d.id, d.claim, hookPending)
	_, err := tx.Exec(ctx, `UPDATE notify_deliveries SET `+set+` WHERE delivery_id = ? AND claim = ? AND status = ?`, args...)
	return err
}

// markFailing starts the endpoint's failing run if this failure begins
// one, and disables the endpoint once the run has lasted DisableAfter. It
// reports whether it disabled it, and since when it has been failing.
func (s *Service) markFailing(ctx context.Context, tx *store.Tx, now time.Time, d dueDelivery, r attemptResult) (bool, int64, error) {
	if _, err := tx.Exec(ctx, `UPDATE notify_endpoints SET failing_since = ? WHERE endpoint_id = ? AND failing_since = 0`,
		store.ToMicros(r.at), d.endpointID); err != nil {
		return false, 0, err
	}
	var failingSince int64
	err := tx.QueryRow(ctx, `SELECT failing_since FROM notify_endpoints WHERE endpoint_id = ?`, d.endpointID).Scan(&failingSince)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil // deleted meanwhile
	}
	if err != nil || failingSince == 0 || now.Sub(store.FromMicros(failingSince)) < s.cfg.Webhooks.DisableAfter {
		return false, 0, err
	}
	reason := fmt.Sprintf("every delivery failed for %s (last: %s)", days(s.cfg.Webhooks.DisableAfter), r.errText())
	res, err := tx.Exec(ctx, `UPDATE notify_endpoints SET enabled = ?, disabled_reason = ?, updated_at = ?
		WHERE endpoint_id = ? AND enabled = ?`, false, reason, store.ToMicros(now), d.endpointID, true)
	if err != nil {
		return false, 0, err
	}
	n, err := res.RowsAffected()
	return n == 1, failingSince, err
}

// days writes a duration in days when it is whole days.
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

// topicEndpointDisabled is the kind of the notification telling a
// workspace its endpoint was disabled.
const topicEndpointDisabled = "webhook.disabled"

// tellDisabled notifies the workspace's managers and owners, in-app and by email, by
// the path events take: the id is made from the endpoint and the start of
// its failing run, so telling twice (two nodes, a retry) records once.
func (s *Service) tellDisabled(ctx context.Context, d dueDelivery, failingSince int64) error {
	res, err := s.portalRecipients(ctx, d.tenantID, d.workspaceID)
	if err != nil {
		return err
	}
	n := notice{
		tenantID: d.tenantID, workspaceID: d.workspaceID, kind: topicEndpointDisabled,
		title: "Webhook endpoint disabled",
		body: fmt.Sprintf("Herald stopped posting events to %s: every delivery failed for %s. Fix the receiver, then enable the endpoint again; failed deliveries can be re-sent from its log.",
			d.url, days(s.cfg.Webhooks.DisableAfter)),
		link:    "/workspaces/" + d.workspaceID + "/webhooks",
		subject: "Webhook endpoint disabled",
	}
	m := &bus.Message{ID: "whoff_" + d.endpointID + "_" + strconv.FormatInt(failingSince, 10), Topic: topicEndpointDisabled}
	_, err = s.record(ctx, &prepared{m: m, n: n, rcpts: uniqueRecipients(endpointOwners(res.GetRecipients())), brand: brandOf(res.GetBranding())})
	return err
}

// endpointOwners keeps the recipients who manage a workspace's endpoints:
// its managers and the agency's owners (a client approver can do nothing
// about them).
func endpointOwners(rs []*portalv1.Recipient) []*portalv1.Recipient {
	var out []*portalv1.Recipient
	for _, r := range rs {
		if r.GetRole() == "owner" || r.GetRole() == "manager" {
			out = append(out, r)
		}
	}
	return out
}

// portalRecipients asks Portal who the people of a workspace are, and
// how the agency brands what they receive.
func (s *Service) portalRecipients(ctx context.Context, tenantID, workspaceID string) (*portalv1.ListRecipientsResponse, error) {
	res, err := s.portal.ListRecipients(ctx, &portalv1.ListRecipientsRequest{TenantId: tenantID, WorkspaceId: workspaceID})
	if err != nil {
		return nil, fmt.Errorf("recipients of workspace %s: %w", workspaceID, err)
	}
	return res, nil
}

// newHookClient is the SSRF-safe client endpoints are posted with. It
// follows no redirect: a receiver moved elsewhere answers 3xx, which is
// logged as a failure naming the reason, and a redirect can never lead a
// delivery to an address the first check would not see.
func newHookClient(p outbound.Policy, cfg WebhookConfig) *http.Client {
	p.MaxRedirects = -1
	p.Timeout = cfg.Timeout
	if p.Timeout <= 0 {
		p.Timeout = DefaultWebhookConfig().Timeout
	}
	return outbound.NewClient(p)
}

// wakeHooks makes the delivery loop look for due deliveries now.
func (s *Service) wakeHooks() {
	select {
	case s.hookWake <- struct{}{}:
	default:
	}
}
