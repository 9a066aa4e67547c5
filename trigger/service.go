package trigger

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
)

// prefix is carried by every table the service owns.
const prefix = "trigger_"

//go:embed migrations/*.sql
var migrations embed.FS

// Config tunes the service. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// NodeID names this engine as a lock holder. Empty: a random id, which is
	// right unless an operator wants stable names in the coordinator.
	NodeID string
	// Shards is how many shards schedules are spread over. It must not change
	// once schedules exist: a schedule's shard is stored when it is created.
	Shards int
	// Horizon is how far ahead schedules are held in memory.
	Horizon time.Duration
	// Poll is how often the engine balances shards, refills the horizon and
	// looks for schedules changed by other nodes.
	Poll time.Duration
	// Batch is the most schedules fired in one transaction.
	Batch int
	// FireParallel is how many fire transactions may run at once when more
	// than a batch is due (each on its own shards).
	FireParallel int
	// MaxInMemory caps the schedules held in memory, so a huge backlog after
	// downtime is paged in as it fires instead of loaded at once.
	MaxInMemory int
	// PastGrace is how far in the past a new due_at may be (clock skew,
	// request latency) before Schedule refuses it.
	PastGrace time.Duration
	// QueueCatchUp is how late a queued post may still fire at its slot
	// (after an outage); a post later than this takes its queue's next
	// free slot instead, so an outage does not turn a queue's spacing into
	// a burst. 0 fires queued posts however late.
	QueueCatchUp time.Duration

	// FeedPolls bounds the feed polls one node runs at once.
	FeedPolls int
	// FeedPollsPerHost bounds the polls one node runs at once against one
	// host.
	FeedPollsPerHost int
	// FeedTimeout bounds one poll's request, body included.
	FeedTimeout time.Duration
	// FeedMaxBytes is the largest feed document read; a larger one fails
	// the poll.
	FeedMaxBytes int64
	// FeedMaxNewItems caps the feed.item events of one poll after the
	// first: a feed that suddenly shows hundreds of new items (a site
	// rebuilt, a feed replaced) does not flood the automations. The newest
	// are acted on; the rest are only marked seen.
	FeedMaxNewItems int
	// FeedForgetAfter is how long an item absent from its feed is
	// remembered; FeedKeepAbsent caps how many absent items a feed keeps
	// (the oldest go first). Items still in the feed are never forgotten.
	FeedForgetAfter time.Duration
	FeedKeepAbsent  int

	// allowSecondly lets recurring rules fire more than once a minute, so
	// tests can watch a rule fire several times in seconds. Herald itself
	// never sets it: no post should go out more than once a minute.
	allowSecondly bool
}

// DefaultConfig returns the configuration Herald runs with by default.
func DefaultConfig() Config {
	return Config{
		Shards:       64,
		Horizon:      time.Minute,
		Poll:         500 * time.Millisecond,
		Batch:        1024,
		FireParallel: 4,
		MaxInMemory:  200_000,
		PastGrace:    5 * time.Second,
		QueueCatchUp: 15 * time.Minute,

		FeedPolls:        16,
		FeedPollsPerHost: 2,
		FeedTimeout:      20 * time.Second,
		FeedMaxBytes:     5 << 20,
		FeedMaxNewItems:  50,
		FeedForgetAfter:  30 * 24 * time.Hour,
		FeedKeepAbsent:   2000,
	}
}

func (c Config) validate() error {
	var problems []error
	if c.Shards < 1 {
		problems = append(problems, errors.New("shards must be at least 1"))
	}
	if c.Horizon < time.Second {
		problems = append(problems, errors.New("horizon must be at least 1s"))
	}
	if c.Poll <= 0 || c.Poll > c.Horizon/2 {
		problems = append(problems, errors.New("poll must be positive and at most half the horizon"))
	}
	if c.Batch < 1 {
		problems = append(problems, errors.New("batch must be at least 1"))
	}
	if c.FireParallel < 1 {
		problems = append(problems, errors.New("fire parallel must be at least 1"))
	}
	if c.MaxInMemory < c.Batch {
		problems = append(problems, errors.New("max in memory must be at least the batch size"))
	}
	if c.PastGrace < 0 {
		problems = append(problems, errors.New("past grace must not be negative"))
	}
	if c.FeedPolls < 1 {
		problems = append(problems, errors.New("feed polls must be at least 1"))
	}
	if c.FeedPollsPerHost < 1 {
		problems = append(problems, errors.New("feed polls per host must be at least 1"))
	}
	if c.FeedTimeout <= 0 {
		problems = append(problems, errors.New("feed timeout must be positive"))
	}
	if c.FeedMaxBytes < 1024 {
		problems = append(problems, errors.New("feed max bytes must be at least 1024"))
	}
	if c.FeedMaxNewItems < 1 {
		problems = append(problems, errors.New("feed max new items must be at least 1"))
	}
	if c.FeedForgetAfter < time.Hour || c.FeedKeepAbsent < 0 {
		problems = append(problems, errors.New("feed forget after must be at least 1h and feed keep absent not negative"))
	}
	return errors.Join(problems...)
}

// Deps is what the service uses.
type Deps struct {
	DB  *store.DB
	Bus bus.Bus
	// Coord hands out shard locks. Nil means this node is alone: it owns
	// every shard. Two nodes sharing a database must share a coordinator.
	Coord coord.Coordinator
	// Clock is the service's time; nil is the real clock. Tests pass a fake
	// one to move time by hand.
	Clock clockwork.Clock
	// Outbound fetches feed URLs. It must be a client made by
	// outbound.NewClient, which checks every address it dials; nil is one
	// with the safe policy (public addresses only).
	Outbound *http.Client
	Log      *slog.Logger
}

// Service is the Trigger service: its handlers and its firing engine.
type Service struct {
	cfg    Config
	db     *store.DB
	outbox *outbox.Outbox
	engine *engine
	clock  clockwork.Clock

	mu      sync.Mutex
	started bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a service ready to Migrate and Start.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("trigger: config: %w", err)
	}
	if deps.DB == nil || deps.Bus == nil {
		return nil, errors.New("trigger: DB and Bus are required")
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = id.New("node")
	}
	c := deps.Coord
	if c == nil {
		c = &soloCoordinator{}
	}
	clock := deps.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	client := deps.Outbound
	if client == nil {
		client = outbound.NewClient(outbound.Policy{})
	}
	box := outbox.New(deps.DB, prefix, deps.Bus, log)
	return &Service{
		cfg:    cfg,
		db:     deps.DB,
		outbox: box,
		clock:  clock,
		engine: newEngine(cfg, deps.DB, box, c, clock, log, client),
	}, nil
}

// Migrate applies the service's migrations and creates its outbox.
func (s *Service) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("trigger: migrations: %w", err)
	}
	if err := s.db.Migrate(ctx, prefix, sub); err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	if err := s.outbox.Migrate(ctx); err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	return nil
}

// Start starts the outbox relay and the engine, and returns once the engine
// holds the shards it could take and has begun loading them (overdue
// schedules are firing). The background work lives until ctx is cancelled
// or Close is called.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("trigger: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := s.engine.start(ctx); err != nil {
		cancel()
		return err
	}
	s.wg.Go(func() { s.outbox.Run(ctx) })
	s.started, s.stop = true, cancel
	return nil
}

// Close stops the engine and the relay, waits for them, and gives up the
// shard locks so another node can take over at once. Schedules stay in the
// database; nothing pending is lost.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.stop()
	s.engine.close()
	s.wg.Wait()
	s.started = false
	return nil
}

// Stats reports what this node's engine did since it was created.
func (s *Service) Stats() Stats { return s.engine.stats() }

var _ triggerv1connect.TriggerServiceHandler = (*Service)(nil)
