package publisher

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// Every claim on an attempt names the Publisher instance that holds it
// ("<instance>/<try>"). Instances announce themselves in the coordination
// registry, so when one dies its in-flight attempts can be taken over as
// soon as its registration is gone (at once after a restart with the
// in-process coordinator, after the session timeout with ZooKeeper or
// etcd), instead of after InFlightTimeout. Without a coordinator only the
// timeout applies.

const registryService = "publisher"

// newClaim returns a fresh claim token held by this instance.
func (s *Service) newClaim() string { return s.instance + "/" + id.New("try") }

// claimHolder returns the instance part of a claim ("" for claims made
// before instances were named).
func claimHolder(claim string) string {
	h, _, ok := strings.Cut(claim, "/")
	if !ok {
		return ""
	}
	return h
}

// register announces this instance until ctx ends.
func (s *Service) register(ctx context.Context) error {
	if s.coord == nil {
		return nil
	}
	_, err := s.coord.Register(ctx, coord.Instance{Service: registryService, ID: s.instance})
	return err
}

// reapDeadHolders makes the in-flight attempts of instances no longer
// registered due now, so the retry loop settles them with their key. It
// returns how many it released.
func (s *Service) reapDeadHolders(ctx context.Context) (int, error) {
	if s.coord == nil {
		return 0, nil
	}
	live, err := s.coord.Instances(ctx, registryService)
	if err != nil {
		return 0, err
	}
	alive := map[string]bool{s.instance: true}
	for _, in := range live {
		alive[in.ID] = true
	}
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT attempt_id, claim FROM publisher_attempts
		WHERE state = ? AND next_try_at > ? LIMIT ?`, string(InFlight), store.ToMicros(now), s.cfg.RetryBatch)
	if err != nil {
		return 0, err
	}
	type held struct{ id, claim string }
	var dead []held
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.id, &h.claim); err != nil {
			rows.Close()
			return 0, err
		}
		if holder := claimHolder(h.claim); holder != "" && !alive[holder] {
			dead = append(dead, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	released := 0
	for _, h := range dead {
		// Guarded by the claim: if the attempt moved on meanwhile, nothing changes.
		res, err := s.db.Exec(ctx, `UPDATE publisher_attempts SET next_try_at = ?
			WHERE attempt_id = ? AND state = ? AND claim = ?`, store.ToMicros(now), h.id, string(InFlight), h.claim)
		if err != nil {
			return released, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			released++
		}
	}
	if released > 0 {
		s.log.Info("taking over attempts of a Publisher instance that is gone", "attempts", released)
	}
	return released, nil
}

// reapLoop looks for dead holders at start and then every reapEvery.
func (s *Service) reapLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.reapDeadHolders(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("looking for attempts of gone instances", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
