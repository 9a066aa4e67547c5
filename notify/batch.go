package notify

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/bus"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

// Events are recorded in batches (docs/decisions/0022): under load the bus
// hands the service many events at once, and one write transaction for
// each would make the store's writer the limit. A batch asks Portal once
// per workspace, then records every event of the batch in one transaction,
// each still guarded by its own event id; if that transaction fails, each
// event is recorded again alone, so one that cannot be recorded is
// redelivered alone.

// batchSize is the most events recorded in one transaction.
const batchSize = 64

func (s *Service) handleBatch(ctx context.Context, msgs []*bus.Message) []error {
	results := make([]error, len(msgs))
	type answer struct {
		res *portalv1.ListRecipientsResponse
		err error
	}
	asked := map[[2]string]answer{}
	ask := func(ctx context.Context, tenantID, workspaceID string) (*portalv1.ListRecipientsResponse, error) {
		k := [2]string{tenantID, workspaceID}
		if a, ok := asked[k]; ok {
			return a.res, a.err
		}
		res, err := s.askPortal(ctx, tenantID, workspaceID)
		asked[k] = answer{res, err}
		return res, err
	}
	var evs []*prepared
	var at []int // index in msgs of each prepared event
	for i, m := range msgs {
		ev, err := s.prepare(ctx, m, ask)
		switch {
		case err != nil:
			results[i] = err
		case ev != nil:
			evs, at = append(evs, ev), append(at, i)
		}
	}
	if len(evs) == 0 {
		return results
	}
	now := s.now().UTC()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, ev := range evs {
			if _, err := s.recordIn(ctx, tx, ev, now); err != nil {
				return fmt.Errorf("event %s: %w", ev.m.ID, err)
			}
		}
		return nil
	})
	if err == nil || len(evs) == 1 {
		if err != nil {
			results[at[0]] = fmt.Errorf("notify: %w", err)
		}
		return results
	}
	s.log.Warn("notify: recording a batch failed; recording its events one by one", "events", len(evs), "err", err)
	for k, ev := range evs {
		if _, err := s.record(ctx, ev); err != nil {
			results[at[k]] = err
		}
	}
	return results
}
