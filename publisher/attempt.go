package publisher

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/store"
)

// State is where a publish attempt stands.
type State string

const (
	// InFlight: a try holds the attempt and may be calling the network.
	InFlight State = "in_flight"
	// RetryWait: a temporary failure or a spent rate limit; tried again at
	// next_try_at.
	RetryWait State = "retry_wait"
	// Unknown: a call got no answer; settled by trying again with the same
	// idempotency key.
	Unknown State = "unknown"
	// Succeeded: the network accepted the post.
	Succeeded State = "succeeded"
	// Failed: the post could not be published and will not be retried.
	Failed State = "failed"
	// Canceled: the post was edited, unscheduled or deleted (or the account
	// removed from it) before the attempt could finish.
	Canceled State = "canceled"
)

// pendingStates are the states the retry loop works on; the partial index
// publisher_attempts_due lists the same.
const pendingStates = `('in_flight', 'retry_wait', 'unknown')`

// Failure kinds carried by post.failed (events.v1.PostFailed.kind).
const (
	kindBadContent   = "bad_content"
	kindDisconnected = "disconnected"
	kindRateLimited  = "rate_limited"
	kindUnavailable  = "unavailable"
	kindUnknown      = "unknown"
)

// IdempotencyKey is the key of the publish attempt of one post revision to
// one account for one due instant. It is the same on every node and for
// every redelivery of the event, so the attempt row and the network's own
// deduplication both recognise a repeat.
//
// The due instant is part of the key because one revision may be due more
// than once (recurring schedules, evergreen queues): each occurrence is a
// new publication, while every redelivery of one occurrence carries the
// same instant.
func IdempotencyKey(postID, accountID string, revision int64, dueAt time.Time) string {
	h := sha256.New()
	// Length-prefixed parts, so no two different tuples share an encoding.
	for _, part := range []string{
		"herald-publish-v1",
		postID,
		accountID,
		strconv.FormatInt(revision, 10),
		strconv.FormatInt(store.ToMicros(dueAt), 10),
	} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	// 128 bits: unique enough, and short enough for every network's header.
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// attempt is one row of publisher_attempts.
type attempt struct {
	ID             string
	TenantID       string
	WorkspaceID    string
	PostID         string
	Revision       int64
	AccountID      string
	Network        string
	IdempotencyKey string
	State          State
	Tries          int
	Claim          string
	NextTryAt      time.Time
	RemoteID       string
	RemoteURL      string
	Error          string
	ErrorKind      string
	DueAt          time.Time
	CreatedAt      time.Time
	StartedAt      time.Time
	TriedAt        time.Time
	FinishedAt     time.Time
}

// attemptColumns lists the columns scanned by scanAttempt, in order.
const attemptColumns = `attempt_id, tenant_id, workspace_id, post_id, revision, account_id, network,
	idempotency_key, state, tries, claim, next_try_at, remote_id, remote_url, error, error_kind,
	due_at, created_at, started_at, tried_at, finished_at`

type scanner interface{ Scan(dest ...any) error }

func scanAttempt(r scanner) (attempt, error) {
	var (
		a                                            attempt
		state                                        string
		next, due, created, started, tried, finished int64
	)
	err := r.Scan(&a.ID, &a.TenantID, &a.WorkspaceID, &a.PostID, &a.Revision, &a.AccountID, &a.Network,
		&a.IdempotencyKey, &state, &a.Tries, &a.Claim, &next, &a.RemoteID, &a.RemoteURL, &a.Error, &a.ErrorKind,
		&due, &created, &started, &tried, &finished)
	if err != nil {
		return attempt{}, err
	}
	a.State = State(state)
	a.NextTryAt = store.FromMicros(next)
	a.DueAt = store.FromMicros(due)
	a.CreatedAt = store.FromMicros(created)
	a.StartedAt = store.FromMicros(started)
	a.TriedAt = store.FromMicros(tried)
	a.FinishedAt = store.FromMicros(finished)
	return a, nil
}

// protoState maps a state onto the contract's enum.
func protoState(s State) publisherv1.AttemptState {
	switch s {
	case InFlight:
		return publisherv1.AttemptState_ATTEMPT_STATE_IN_FLIGHT
	case RetryWait:
		return publisherv1.AttemptState_ATTEMPT_STATE_WAITING
	case Canceled:
		return publisherv1.AttemptState_ATTEMPT_STATE_CANCELED
	case Unknown:
		return publisherv1.AttemptState_ATTEMPT_STATE_UNKNOWN
	case Succeeded:
		return publisherv1.AttemptState_ATTEMPT_STATE_SUCCEEDED
	case Failed:
		return publisherv1.AttemptState_ATTEMPT_STATE_FAILED
	}
	return publisherv1.AttemptState_ATTEMPT_STATE_UNSPECIFIED
}

func (a attempt) proto() *publisherv1.Attempt {
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	return &publisherv1.Attempt{
		AttemptId:      a.ID,
		IdempotencyKey: a.IdempotencyKey,
		PostId:         a.PostID,
		Revision:       a.Revision,
		AccountId:      a.AccountID,
		State:          protoState(a.State),
		RemoteId:       a.RemoteID,
		RemoteUrl:      a.RemoteURL,
		Error:          a.Error,
		StartedAt:      ts(a.StartedAt),
		FinishedAt:     ts(a.FinishedAt),
		Tries:          int32(a.Tries),
		NextTryAt:      ts(a.NextTryAt),
		ErrorKind:      a.ErrorKind,
	}
}
