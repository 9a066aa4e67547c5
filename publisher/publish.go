package publisher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"gocloud.dev/gcerrors"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// User-facing reasons, for failures whose provider gave no message.
const (
	reasonRateLimited  = "waiting for the account's rate limit to reset"
	reasonBadContent   = "the network refused the post"
	reasonDisconnected = "the network refused the account's credentials; reconnect the account"
	reasonRetry        = "the network is temporarily unavailable"
	reasonUnknown      = "the network did not answer, so it is not known whether the post was published"
	// reasonUndecided: the network cannot say, and trying again could post
	// twice.
	reasonUndecided = "the network did not answer, and it offers no way to tell whether the post went out; " +
		"check the account and publish the post again only if it is not there"
)

// settleTimeout bounds recording an outcome, which must happen even when
// the call's context ended (the outcome is what a later try needs).
const settleTimeout = 30 * time.Second

// outcome is what one try came to.
type outcome struct {
	state     State
	remoteID  string
	remoteURL string
	// reason is shown to the user; kind is the failure kind (PostFailed.kind
	// for a final failure, the provider kind for a waiting one).
	reason string
	kind   string
	// nextTryAt is set for the waiting states.
	nextTryAt time.Time
	// reconnect asks for account.needs_reconnect.
	reconnect bool
	// rateLimit, when set, is the account's budget to record.
	rateLimit *RateLimit
}

func unsupported(network string) *outcome {
	return &outcome{
		state:  Failed,
		kind:   kindUnavailable,
		reason: fmt.Sprintf("publishing to %q is not supported by this Herald server", network),
	}
}

// try makes one try of a claimed attempt and records its outcome: it
// renews the account's credentials if they need it, looks up what an
// earlier try with an unknown outcome did, publishes the parts not yet
// published, and settles the attempt.
func (s *Service) try(ctx context.Context, job *portalv1.PublishJob, c claimed) {
	a := c.attempt
	p, ok := s.providers[a.Network]
	if !ok {
		s.settle(ctx, a, *unsupported(a.Network))
		return
	}
	target := c.target
	var (
		res       provider.Result
		called    bool
		err       error
		refreshed bool
		// settled is the outcome a lookup found, before any publish.
		settled *outcome
	)
	r, renewable := p.(provider.Refresher)
	if renewable && r.NeedsRefresh(accountOf(target), s.now()) {
		var t *portalv1.Target
		if t, err = s.renew(ctx, a, target, r, false); err == nil {
			target = t
		}
		refreshed = true
	}
	acct := accountOf(target)
	// call makes one network call with the account's credentials. If the
	// network refused them as expired, or as revoked by a renewal another
	// try just made, the call had no effect: it renews them (or takes
	// that renewal) once and calls again. If the grant itself was
	// revoked, the renewal is refused and the account must be
	// reconnected, as it would have been.
	call := func(f func(ctx context.Context, acct provider.Account) error) error {
		do := func() error {
			called = true
			callCtx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
			defer cancel()
			failpoint(FailBeforeCall)
			err := f(callCtx, acct)
			// The network answered (or did not); nothing of it is
			// committed yet: the worst moment to die.
			failpoint(FailAfterCall)
			return err
		}
		err := do()
		if k := kindOf(err); renewable && !refreshed &&
			(k == provider.Expired || (k == provider.Disconnected && target.GetRefreshToken() != "")) {
			refreshed = true
			t, rerr := s.renew(ctx, a, target, r, true)
			if rerr != nil {
				return rerr
			}
			target, acct = t, accountOf(t)
			err = do()
		}
		return err
	}

	// A thread publishes part by part; the parts an earlier try published
	// are recorded and not published again.
	parts := jobParts(job, a.Network)
	done := map[int]provider.Result{}
	if err == nil {
		settled = unsupportedParts(p, parts)
	}
	if err == nil && settled == nil && len(parts) > 1 {
		var loaded map[int]provider.Result
		if loaded, err = s.loadParts(ctx, a.ID); err != nil {
			err = &provider.Error{Kind: provider.Retry, Message: "reading which parts of the thread are published", Err: err}
		} else {
			done = loaded
		}
	}
	next := 0
	for ; next < len(parts); next++ {
		if _, ok := done[next]; !ok {
			break
		}
	}

	// An earlier try may have been published without Herald hearing of
	// it: where the provider can look the post (the part that try was
	// publishing) up by its key, settle that before trying again, instead
	// of relying on the network's memory of the key alone.
	if l, ok := p.(provider.Looker); ok && err == nil && settled == nil && c.unsettled && next < len(parts) {
		var (
			found bool
			lres  provider.Result
		)
		key := partKey(a.IdempotencyKey, next)
		lerr := call(func(ctx context.Context, acct provider.Account) error {
			var err error
			lres, found, err = l.Lookup(ctx, acct, key)
			return err
		})
		switch {
		case lerr != nil:
			o := s.lookupFailed(a, lerr, s.now())
			settled, err = &o, lerr
		case found:
			s.log.Info("unknown outcome settled: the post was published", "attempt_id", a.ID, "post_id", a.PostID,
				"account_id", a.AccountID, "part", next, "remote_id", lres.RemoteID)
			done[next] = lres
			if len(parts) > 1 {
				s.recordPart(ctx, a, next, lres)
			}
			next++
		default:
			s.log.Info("unknown outcome settled: the post was not published; trying again with the same key",
				"attempt_id", a.ID, "post_id", a.PostID, "account_id", a.AccountID, "part", next)
		}
	} else if err == nil && settled == nil && c.unsettled && next < len(parts) && !settles(p) {
		// An earlier try may have posted, and neither the network's memory
		// of the key nor a lookup can tell: only the user can.
		s.log.Warn("unknown outcome left to the user: the network can neither deduplicate nor look the post up",
			"attempt_id", a.ID, "post_id", a.PostID, "account_id", a.AccountID, "network", a.Network, "part", next)
		settled = &outcome{state: Failed, kind: kindUnknown, reason: reasonUndecided}
	}

	results := make([]provider.Result, len(parts))
	for i, r := range done {
		if i < len(results) {
			results[i] = r
		}
	}
	failedPart := -1
	for i := next; err == nil && settled == nil && i < len(parts); i++ {
		pt := parts[i]
		var media []provider.Media
		if media, err = s.media(ctx, pt.media); err != nil {
			failedPart = i
			break
		}
		post := provider.Post{Text: pt.text, Media: media, IdempotencyKey: partKey(a.IdempotencyKey, i)}
		switch {
		case pt.comment:
			post.ReplyTo, post.AsComment = &results[0], true
		case i > 0:
			post.ReplyTo = &results[i-1]
			if i > 1 {
				post.Root = &results[0]
			}
		}
		var pres provider.Result
		err = call(func(ctx context.Context, acct provider.Account) error {
			var err error
			pres, err = p.Publish(ctx, acct, post)
			return err
		})
		if err != nil {
			failedPart = i
			break
		}
		results[i] = pres
		if len(parts) > 1 {
			s.recordPart(ctx, a, i, pres)
		}
	}
	if len(results) > 0 {
		// The attempt's result is the post's own, its first part.
		res = results[0]
	}
	var out outcome
	if settled != nil {
		out = *settled
	} else {
		out = s.outcomeOf(a, res, err, s.now())
		if err != nil && failedPart >= 0 && len(parts) > 1 {
			out.reason = partReason(parts, failedPart) + out.reason
		}
	}
	if r, ok := p.(RateLimitReporter); ok && called && out.rateLimit == nil {
		if rl, ok := r.RateLimit(acct); ok {
			out.rateLimit = &rl
		}
	}
	if err != nil {
		s.log.Info("publish try failed", "attempt_id", a.ID, "post_id", a.PostID, "account_id", a.AccountID,
			"try", a.Tries, "state", out.state, "next_try_at", out.nextTryAt, "err", err)
	}
	s.settle(ctx, a, out)
}

// accountOf is a target as its provider needs it.
func accountOf(t *portalv1.Target) provider.Account {
	a := provider.Account{
		ID:           t.GetAccountId(),
		Network:      t.GetNetwork(),
		InstanceURL:  t.GetInstanceUrl(),
		AccessToken:  t.GetAccessToken(),
		Handle:       t.GetHandle(),
		RemoteID:     t.GetRemoteId(),
		RefreshToken: t.GetRefreshToken(),
		Secret:       t.GetSecret(),
	}
	if t.ExpiresAt != nil {
		a.ExpiresAt = t.GetExpiresAt().AsTime()
	}
	return a
}

// media describes the job's attachments for the provider, checking first
// that each is in the blob store: a missing file is the post's fault, not
// the network's, and is found without spending a network call.
func (s *Service) media(ctx context.Context, refs []*portalv1.MediaRef) ([]provider.Media, error) {
	out := make([]provider.Media, 0, len(refs))
	for i, ref := range refs {
		attrs, err := s.blob.Attributes(ctx, ref.GetBlobKey())
		if err != nil {
			if gcerrors.Code(err) == gcerrors.NotFound {
				return nil, &provider.Error{Kind: provider.BadContent,
					Message: fmt.Sprintf("attachment %d (%s) is missing from media storage", i+1, ref.GetFileName()), Err: err}
			}
			// Nothing was sent: a plain retry is safe.
			return nil, &provider.Error{Kind: provider.Retry, Message: "media storage is unavailable", Err: err}
		}
		size := ref.GetSizeBytes()
		if size == 0 {
			size = attrs.Size
		}
		key := ref.GetBlobKey()
		out = append(out, provider.Media{
			Key:         key,
			FileName:    ref.GetFileName(),
			MimeType:    ref.GetMimeType(),
			Size:        size,
			Description: ref.GetDescription(),
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				return s.blob.NewReader(ctx, key, nil)
			},
		})
	}
	return out, nil
}

// outcomeOf decides what a try's result means for the attempt.
func (s *Service) outcomeOf(a attempt, res provider.Result, err error, now time.Time) outcome {
	if err == nil {
		return outcome{state: Succeeded, remoteID: res.RemoteID, remoteURL: res.RemoteURL}
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		// An untyped failure may have happened after the post was sent:
		// treat it as unknown, so only the same key is ever retried.
		pe = &provider.Error{Kind: provider.Unknown, Err: err}
	}
	last := a.Tries >= s.cfg.MaxTries
	switch pe.Kind {
	case provider.BadContent:
		return outcome{state: Failed, kind: kindBadContent, reason: messageOr(pe, reasonBadContent)}
	case provider.Disconnected, provider.Expired:
		// Expired reaches here when the token cannot be renewed (no
		// Refresher) or was refused again right after a renewal.
		return outcome{state: Failed, kind: kindDisconnected, reason: messageOr(pe, reasonDisconnected), reconnect: true}
	case provider.RateLimited:
		reset := pe.RetryAfter
		if !reset.After(now) {
			reset = now.Add(backoff(s.cfg.RetryBase, s.cfg.RetryMax, a.Tries))
		}
		out := outcome{reason: messageOr(pe, reasonRateLimited), rateLimit: &RateLimit{Remaining: 0, Reset: reset}}
		if last {
			out.state, out.kind = Failed, kindRateLimited
			return out
		}
		out.state, out.kind, out.nextTryAt = RetryWait, string(provider.RateLimited), reset.Add(spread(s.cfg.RetryBase))
		return out
	case provider.Unknown:
		out := outcome{reason: messageOr(pe, reasonUnknown)}
		if !settles(s.providers[a.Network]) {
			// Trying again could post twice: the user decides.
			out.state, out.kind, out.reason = Failed, kindUnknown, reasonUndecided
			return out
		}
		if last {
			out.state, out.kind = Failed, kindUnknown
			return out
		}
		out.state, out.kind = Unknown, string(provider.Unknown)
		out.nextTryAt = now.Add(backoff(s.cfg.UnknownDelay, s.cfg.UnknownMaxDelay, a.Tries))
		return out
	default:
		// provider.Retry, and any kind this version does not know.
		out := outcome{reason: messageOr(pe, reasonRetry)}
		if last {
			out.state, out.kind = Failed, kindUnavailable
			return out
		}
		next := now.Add(backoff(s.cfg.RetryBase, s.cfg.RetryMax, a.Tries))
		if pe.RetryAfter.After(next) {
			next = pe.RetryAfter
		}
		out.state, out.kind, out.nextTryAt = RetryWait, string(provider.Retry), next
		return out
	}
}

// settles reports whether an unknown outcome on p's network can be settled
// without the user: by looking the post up, or by trying again under the
// same key, which the network deduplicates.
func settles(p provider.Provider) bool {
	if _, ok := p.(provider.Looker); ok {
		return true
	}
	d, ok := p.(provider.Deduper)
	return ok && d.DedupesByKey()
}

// lookupFailed is the outcome of a try whose lookup of an unknown outcome
// failed: it stays unknown, to be looked up again after a backoff (or the
// network's RetryAfter), unless the account is disconnected or the tries
// are spent.
func (s *Service) lookupFailed(a attempt, err error, now time.Time) outcome {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		pe = &provider.Error{Kind: provider.Unknown, Err: err}
	}
	if pe.Kind == provider.Disconnected || pe.Kind == provider.Expired {
		return s.outcomeOf(a, provider.Result{}, pe, now)
	}
	msg := reasonUnknown + "; checking with the network failed"
	if pe.Message != "" {
		msg += ": " + pe.Message
	}
	out := s.outcomeOf(a, provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: msg, Err: err}, now)
	if out.state == Unknown && pe.RetryAfter.After(out.nextTryAt) {
		out.nextTryAt = pe.RetryAfter
	}
	if pe.Kind == provider.RateLimited && pe.RetryAfter.After(now) {
		out.rateLimit = &RateLimit{Remaining: 0, Reset: pe.RetryAfter}
	}
	return out
}

// kindOf is err's provider kind ("" when it has none).
func kindOf(err error) provider.Kind {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

func messageOr(pe *provider.Error, fallback string) string {
	if pe.Message != "" {
		return pe.Message
	}
	return fallback
}

// settle commits a try's outcome, with its events, in one transaction. Only
// the try that holds the claim may: if the attempt was taken over (its
// claim expired), the other try settles it and this outcome is dropped.
//
// Outcomes reaching settle together share a transaction (a group commit):
// the first caller commits its own and those queued behind it, up to
// maxSettleBatch, and hands the next batch to the first caller left
// waiting. One outcome alone commits at once, so batching adds no wait;
// under load it spares a commit (on SQLite, a turn of the single writer)
// per outcome. A batch that fails is committed again one outcome at a
// time, so one outcome's failure costs no other its commit.
func (s *Service) settle(ctx context.Context, a attempt, out outcome) {
	req := &settleReq{attempt: a, out: out, wake: make(chan struct{})}
	s.settleMu.Lock()
	s.settleQueue = append(s.settleQueue, req)
	if !s.settling {
		s.settling, req.lead = true, true
		s.settleMu.Unlock()
	} else {
		s.settleMu.Unlock()
		<-req.wake
	}
	if req.lead {
		s.settleMu.Lock()
		batch := s.settleQueue[:min(len(s.settleQueue), maxSettleBatch)]
		s.settleQueue = append([]*settleReq(nil), s.settleQueue[len(batch):]...)
		s.settleMu.Unlock()

		s.commitSettles(ctx, batch)

		s.settleMu.Lock()
		if len(s.settleQueue) > 0 {
			next := s.settleQueue[0]
			next.lead = true
			close(next.wake)
		} else {
			s.settling = false
		}
		s.settleMu.Unlock()
		for _, r := range batch {
			if r != req {
				close(r.wake)
			}
		}
	}
	switch {
	case req.err != nil:
		// The attempt stays in flight; once its claim expires the retry
		// loop tries again with the same key, which settles it.
		s.log.Error("recording publish outcome", "attempt_id", a.ID, "state", out.state, "err", req.err)
	case !req.held:
		s.log.Warn("publish outcome dropped: the attempt was taken over by another try",
			"attempt_id", a.ID, "state", out.state)
	}
}

// maxSettleBatch bounds how many outcomes one transaction commits.
const maxSettleBatch = 128

// settleReq is one outcome waiting to be committed.
type settleReq struct {
	attempt attempt
	out     outcome
	// wake is closed once the outcome is committed (or failed), or when
	// this request is to commit the next batch (lead set first).
	wake chan struct{}
	lead bool
	// held: the try still held the claim and its outcome is committed.
	held bool
	err  error
}

// commitSettles commits a batch of outcomes in one transaction, or one at
// a time if that fails.
func (s *Service) commitSettles(ctx context.Context, batch []*settleReq) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	run := func(reqs []*settleReq) error {
		return s.db.Tx(ctx, func(tx *store.Tx) error {
			now := s.now()
			for _, r := range reqs {
				var err error
				if r.held, err = s.settleIn(ctx, tx, r.attempt, r.out, now); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := run(batch)
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	for _, r := range batch {
		r.err = run([]*settleReq{r})
	}
}

// settleIn records one outcome within tx, guarded by the try's claim, and
// reports whether the claim was still held.
func (s *Service) settleIn(ctx context.Context, tx *store.Tx, a attempt, out outcome, now time.Time) (bool, error) {
	var finished time.Time
	if out.state == Succeeded || out.state == Failed || out.state == Canceled {
		finished = now
	}
	if out.rateLimit != nil {
		if err := recordRateLimit(ctx, tx, a.TenantID, a.AccountID, a.Network, *out.rateLimit, now); err != nil {
			return false, err
		}
	}
	res, err := tx.Exec(ctx, `UPDATE publisher_attempts SET state = ?, claim = '', next_try_at = ?,
			remote_id = ?, remote_url = ?, error = ?, error_kind = ?, finished_at = ?
		WHERE attempt_id = ? AND claim = ? AND state = ?`,
		string(out.state), store.ToMicros(out.nextTryAt), out.remoteID, out.remoteURL, out.reason, out.kind,
		store.ToMicros(finished), a.ID, a.Claim, string(InFlight))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	switch out.state {
	case Succeeded:
		ev := &eventsv1.PostPublished{
			TenantId: a.TenantID, WorkspaceId: a.WorkspaceID, PostId: a.PostID, Revision: a.Revision,
			AccountId: a.AccountID, Network: a.Network, RemoteId: out.remoteID, RemoteUrl: out.remoteURL,
			PublishedAt: timestamppb.New(now), DueAt: timestampOrNil(a.DueAt),
		}
		_, err := s.outbox.Add(ctx, tx, bus.TopicPostPublished, ev)
		return err == nil, err
	case Failed:
		err := s.emitFailure(ctx, tx, a, out, now)
		return err == nil, err
	}
	return true, nil
}

// emitFailure writes post.failed, and account.needs_reconnect when the
// account must be reconnected, within tx.
func (s *Service) emitFailure(ctx context.Context, tx *store.Tx, a attempt, out outcome, now time.Time) error {
	_, err := s.outbox.Add(ctx, tx, bus.TopicPostFailed, &eventsv1.PostFailed{
		TenantId: a.TenantID, WorkspaceId: a.WorkspaceID, PostId: a.PostID, Revision: a.Revision,
		AccountId: a.AccountID, Network: a.Network, Reason: out.reason, Kind: out.kind,
		FailedAt: timestamppb.New(now), DueAt: timestampOrNil(a.DueAt),
	})
	if err != nil || !out.reconnect {
		return err
	}
	_, err = s.outbox.Add(ctx, tx, bus.TopicAccountNeedsReconnect, &eventsv1.AccountNeedsReconnect{
		TenantId: a.TenantID, WorkspaceId: a.WorkspaceID, AccountId: a.AccountID, Network: a.Network,
		Reason: out.reason,
	})
	return err
}

func timestampOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// backoff is the wait before try n+1 after n tries: base·2^(n-1) capped at
// limit, drawn uniformly from its upper half so that attempts failing
// together do not come back together.
func backoff(base, limit time.Duration, tries int) time.Duration {
	d := base
	for i := 1; i < tries && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// spread is a random delay below d, to keep many attempts waiting for the
// same instant (a rate-limit reset) from all starting at once.
func spread(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
