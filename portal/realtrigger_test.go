package portal

import (
	"context"
	"log/slog"
	"testing"

	"github.com/heraldhq/herald/trigger"
)

// setupRealTrigger is setup with the real Trigger service in-process, on
// the same store and bus: what Trigger accepts, refuses and emits is then
// the real thing, not a fake's idea of it.
func setupRealTrigger(t *testing.T) (*bundle, *trigger.Service) {
	t.Helper()
	var ts *trigger.Service
	b := setupWith(t, func(d *Deps) {
		var err error
		ts, err = trigger.New(trigger.DefaultConfig(), trigger.Deps{DB: d.DB, Bus: d.Bus, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := ts.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ts.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ts.Close() })
		d.Trigger = ts
	})
	return b, ts
}
