package publisher

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// RateLimit and RateLimitReporter are the provider port's: a provider
// implementing the reporter tells Publisher what budget an account has left
// after each call.
type (
	RateLimit         = provider.RateLimit
	RateLimitReporter = provider.RateLimitReporter
)

// reserve takes one request from the account's recorded budget within tx.
// It returns the zero time when a call may be made now, and the instant the
// budget resets when it is spent. An account with no record, or whose
// window has passed, may be called: the call's answer brings the new
// budget.
func (s *Service) reserve(ctx context.Context, tx *store.Tx, tenantID, accountID string, now time.Time) (time.Time, error) {
	at := store.ToMicros(now)
	// A conditional decrement, so that nodes racing for the last request
	// of a window cannot all take it.
	res, err := tx.Exec(ctx, `UPDATE publisher_rate_limits SET remaining = remaining - 1
		WHERE tenant_id = ? AND account_id = ? AND reset_at > ? AND remaining > 0`,
		tenantID, accountID, at)
	if err != nil {
		return time.Time{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return time.Time{}, err
	} else if n == 1 {
		return time.Time{}, nil
	}
	var reset int64
	err = tx.QueryRow(ctx, `SELECT reset_at FROM publisher_rate_limits
		WHERE tenant_id = ? AND account_id = ? AND reset_at > ? AND remaining <= 0`,
		tenantID, accountID, at).Scan(&reset)
	if errors.Is(err, store.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return store.FromMicros(reset), nil
}

// recordRateLimit stores what the network said of an account's budget,
// unless a newer observation is already stored.
func recordRateLimit(ctx context.Context, tx *store.Tx, tenantID, accountID, network string, rl RateLimit, observed time.Time) error {
	remaining := max(rl.Remaining, 0)
	_, err := tx.Exec(ctx, `INSERT INTO publisher_rate_limits
			(tenant_id, account_id, network, budget, remaining, reset_at, observed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, account_id) DO UPDATE SET
			network = excluded.network, budget = excluded.budget, remaining = excluded.remaining,
			reset_at = excluded.reset_at, observed_at = excluded.observed_at
		WHERE publisher_rate_limits.observed_at <= excluded.observed_at`,
		tenantID, accountID, network, rl.Limit, remaining, store.ToMicros(rl.Reset), store.ToMicros(observed))
	return err
}
