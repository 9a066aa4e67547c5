package publisher

import (
	"context"
	"fmt"
	"strconv"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// Threads and first comments.
//
// A job may be more than one post: the post, then its thread's next parts,
// each a reply to the one before, then a first comment on the post. One
// attempt publishes them in order for its account. Each part is recorded
// in publisher_attempt_parts as soon as the network took it,
// by the try holding the claim, so a try that fails midway leaves visible
// what is already out, and the next try goes on from the first part not
// recorded, replying to the recorded ones. Every part has its own
// idempotency key, derived from the attempt's (the first part's is the
// attempt's own), so a part whose answer was lost is settled like any
// unknown outcome: looked up, or published again under the same key.

// part is one post of a job.
type part struct {
	text    string
	media   []*portalv1.MediaRef
	comment bool
}

// jobParts lists the posts a job publishes to an account of network, in
// order: the network's variant where the job has one, else the post's own.
func jobParts(job *portalv1.PublishJob, network string) []part {
	text, media, thread, comment := job.GetText(), job.GetMedia(), job.GetThread(), job.GetFirstComment()
	if v, ok := job.GetVariants()[network]; ok {
		text, media, thread, comment = v.GetText(), v.GetMedia(), v.GetThread(), v.GetFirstComment()
	}
	parts := []part{{text: text, media: media}}
	for _, t := range thread {
		parts = append(parts, part{text: t.GetText(), media: t.GetMedia()})
	}
	if c := comment; c != nil {
		parts = append(parts, part{text: c.GetText(), media: c.GetMedia(), comment: true})
	}
	return parts
}

// partKey is the idempotency key of part i of an attempt.
func partKey(attemptKey string, i int) string {
	if i == 0 {
		return attemptKey
	}
	return attemptKey + "-" + strconv.Itoa(i)
}

// unsupportedParts fails a thread or a first comment that the network does
// not take, before anything is published.
func unsupportedParts(p provider.Provider, parts []part) *outcome {
	lim := p.Limits()
	for _, pt := range parts[1:] {
		var what string
		switch {
		case pt.comment && !lim.FirstComment:
			what = "a first comment"
		case !pt.comment && !lim.Threads:
			what = "threads"
		default:
			continue
		}
		return &outcome{state: Failed, kind: kindBadContent,
			reason: fmt.Sprintf("%s does not support %s; nothing was published", p.Network(), what)}
	}
	return nil
}

// partReason names the part that failed, and says what is already out.
func partReason(parts []part, i int) string {
	name := fmt.Sprintf("part %d of %d of the thread", i+1, len(parts))
	if parts[i].comment {
		name = "the first comment"
	}
	if i == 0 {
		return name + ": "
	}
	return fmt.Sprintf("%s (the parts before it are published and will not be posted again): ", name)
}

// loadParts returns the recorded parts of an attempt, by index.
func (s *Service) loadParts(ctx context.Context, attemptID string) (map[int]provider.Result, error) {
	rows, err := s.db.Query(ctx, `SELECT part_index, remote_id, remote_url, ref FROM publisher_attempt_parts
		WHERE attempt_id = ?`, attemptID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]provider.Result{}
	for rows.Next() {
		var (
			i int
			r provider.Result
		)
		if err := rows.Scan(&i, &r.RemoteID, &r.RemoteURL, &r.Ref); err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, rows.Err()
}

// recordPart records that part i of a claimed attempt is published, if
// the try still holds the claim. A failure to record is logged: the next
// try then publishes the part again under its key, which the network
// deduplicates.
func (s *Service) recordPart(ctx context.Context, a attempt, i int, r provider.Result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	_, err := s.db.Exec(ctx, `INSERT INTO publisher_attempt_parts (attempt_id, part_index, remote_id, remote_url, ref, published_at)
		SELECT attempt_id, ?, ?, ?, ?, ? FROM publisher_attempts WHERE attempt_id = ? AND claim = ? AND state = ?
		ON CONFLICT (attempt_id, part_index) DO NOTHING`,
		i, r.RemoteID, r.RemoteURL, r.Ref, store.ToMicros(s.now()), a.ID, a.Claim, string(InFlight))
	if err != nil {
		s.log.Error("recording a published part", "attempt_id", a.ID, "part", i, "err", err)
	}
}

// attachParts adds their recorded parts to listed attempts of one post.
func (s *Service) attachParts(ctx context.Context, tenantID, postID string, attempts []*publisherv1.Attempt) error {
	rows, err := s.db.Query(ctx, `SELECT p.attempt_id, p.part_index, p.remote_id, p.remote_url, p.published_at
		FROM publisher_attempt_parts p JOIN publisher_attempts a ON a.attempt_id = p.attempt_id
		WHERE a.tenant_id = ? AND a.post_id = ? ORDER BY p.attempt_id, p.part_index`, tenantID, postID)
	if err != nil {
		return err
	}
	defer rows.Close()
	byID := make(map[string]*publisherv1.Attempt, len(attempts))
	for _, a := range attempts {
		byID[a.GetAttemptId()] = a
	}
	for rows.Next() {
		var (
			id  string
			p   publisherv1.AttemptPart
			at  int64
			idx int
		)
		if err := rows.Scan(&id, &idx, &p.RemoteId, &p.RemoteUrl, &at); err != nil {
			return err
		}
		if a := byID[id]; a != nil {
			p.Index, p.PublishedAt = int32(idx), timestampOrNil(store.FromMicros(at))
			a.Parts = append(a.Parts, &p)
		}
	}
	return rows.Err()
}
