package publisher

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	gcblob "gocloud.dev/blob"
	"golang.org/x/sync/singleflight"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/coord"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/gen/herald/publisher/v1/publisherv1connect"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/store"
)

// tablePrefix prefixes every table the service owns.
const tablePrefix = "publisher_"

// consumerGroup is the bus group all Publisher nodes share, so each post.due
// is handled by one of them.
const consumerGroup = "publisher"

//go:embed migrations/*.sql
var migrations embed.FS

// Config tunes the service. Start from DefaultConfig; zero fields take the
// default.
type Config struct {
	// Concurrency is how many post.due events one node handles at once.
	Concurrency int
	// CallTimeout bounds one publish call to a network. A call cut short
	// by it has an unknown outcome and is settled by trying again.
	CallTimeout time.Duration
	// InFlightTimeout is how long an attempt may stay in flight before
	// another try takes it over, presuming its node died. It must exceed
	// CallTimeout, or a slow but live call would be tried twice at once.
	InFlightTimeout time.Duration
	// MaxTries is how many network calls one attempt may make before it
	// fails for good.
	MaxTries int
	// RetryBase and RetryMax bound the backoff after a temporary failure:
	// the n-th wait is about RetryBase·2^(n-1), at most RetryMax, jittered.
	RetryBase time.Duration
	RetryMax  time.Duration
	// UnknownDelay and UnknownMaxDelay bound the wait before settling an
	// unknown outcome. They are short on purpose: networks remember an
	// idempotency key for a limited time (an hour on Mastodon), and the
	// repeat must reach the network while it still does.
	UnknownDelay    time.Duration
	UnknownMaxDelay time.Duration
	// PollInterval is how often the retry loop looks for due attempts.
	PollInterval time.Duration
	// RetryBatch is how many due attempts one poll takes.
	RetryBatch int
	// RetryConcurrency is how many due attempts a node tries at once.
	RetryConcurrency int
}

// DefaultConfig returns the settings for a production node.
func DefaultConfig() Config {
	return Config{
		Concurrency:      256,
		CallTimeout:      60 * time.Second,
		InFlightTimeout:  3 * time.Minute,
		MaxTries:         8,
		RetryBase:        10 * time.Second,
		RetryMax:         15 * time.Minute,
		UnknownDelay:     15 * time.Second,
		UnknownMaxDelay:  5 * time.Minute,
		PollInterval:     time.Second,
		RetryBatch:       256,
		RetryConcurrency: 16,
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.Concurrency, d.Concurrency)
	setInt(&c.MaxTries, d.MaxTries)
	setInt(&c.RetryBatch, d.RetryBatch)
	setInt(&c.RetryConcurrency, d.RetryConcurrency)
	setDur(&c.CallTimeout, d.CallTimeout)
	setDur(&c.InFlightTimeout, d.InFlightTimeout)
	setDur(&c.RetryBase, d.RetryBase)
	setDur(&c.RetryMax, d.RetryMax)
	setDur(&c.UnknownDelay, d.UnknownDelay)
	setDur(&c.UnknownMaxDelay, d.UnknownMaxDelay)
	setDur(&c.PollInterval, d.PollInterval)

	var problems []error
	for name, v := range map[string]int{
		"Concurrency": c.Concurrency, "MaxTries": c.MaxTries,
		"RetryBatch": c.RetryBatch, "RetryConcurrency": c.RetryConcurrency,
	} {
		if v < 0 {
			problems = append(problems, fmt.Errorf("publisher: config %s must be positive, got %d", name, v))
		}
	}
	for name, v := range map[string]time.Duration{
		"CallTimeout": c.CallTimeout, "InFlightTimeout": c.InFlightTimeout,
		"RetryBase": c.RetryBase, "RetryMax": c.RetryMax,
		"UnknownDelay": c.UnknownDelay, "UnknownMaxDelay": c.UnknownMaxDelay,
		"PollInterval": c.PollInterval,
	} {
		if v < 0 {
			problems = append(problems, fmt.Errorf("publisher: config %s must be positive, got %s", name, v))
		}
	}
	if c.InFlightTimeout <= c.CallTimeout {
		problems = append(problems, fmt.Errorf("publisher: config InFlightTimeout (%s) must exceed CallTimeout (%s)", c.InFlightTimeout, c.CallTimeout))
	}
	if c.RetryMax < c.RetryBase {
		problems = append(problems, fmt.Errorf("publisher: config RetryMax (%s) must not be below RetryBase (%s)", c.RetryMax, c.RetryBase))
	}
	if c.UnknownMaxDelay < c.UnknownDelay {
		problems = append(problems, fmt.Errorf("publisher: config UnknownMaxDelay (%s) must not be below UnknownDelay (%s)", c.UnknownMaxDelay, c.UnknownDelay))
	}
	return c, errors.Join(problems...)
}

// Deps is what the service uses.
type Deps struct {
	DB  *store.DB
	Bus bus.Bus
	Log *slog.Logger
	// Blob holds media bytes, by MediaRef.blob_key.
	Blob *gcblob.Bucket
	// Portal owns post content and account credentials.
	Portal portalv1connect.PortalServiceClient
	// Providers publish, by network name ("mastodon"). A provider that also
	// implements RateLimitReporter has its accounts' budgets honoured
	// before calls are made, not only after a refusal.
	Providers map[string]provider.Provider
	// Coord, when set, lets a node take over the in-flight attempts of a
	// Publisher instance that died as soon as its registration is gone,
	// instead of after InFlightTimeout, and makes the nodes renew an
	// account's expiring credentials one at a time.
	Coord coord.Coordinator
}

// Service is the Publisher service.
type Service struct {
	cfg       Config
	db        *store.DB
	bus       bus.Bus
	log       *slog.Logger
	blob      *gcblob.Bucket
	portal    portalv1connect.PortalServiceClient
	providers map[string]provider.Provider
	coord     coord.Coordinator
	// instance names this running Publisher in claims and the registry.
	instance string
	outbox   *outbox.Outbox

	// now is the clock; tests replace it.
	now func() time.Time

	// retrySem bounds the retry loop's concurrent jobs; busy holds the
	// attempts this node's retry loop is working on.
	retrySem chan struct{}
	busyMu   sync.Mutex
	busy     map[string]bool

	// refreshGroup makes one renewal of an account's credentials serve
	// every try of this node that needs it; creds holds the newest
	// credentials this node renewed or read, by account.
	// settleQueue holds the outcomes waiting for the group commit that
	// settling runs (see settle).
	settleMu    sync.Mutex
	settleQueue []*settleReq
	settling    bool

	refreshGroup singleflight.Group
	credsMu      sync.Mutex
	creds        map[string]*portalv1.Target

	mu      sync.Mutex
	started bool
	closed  bool
	// runCtx lives from Start to Close; deliveries end with it.
	runCtx context.Context
	stop   context.CancelFunc
	sub    bus.Subscription
	// wg counts the background goroutines, handlers the running deliveries.
	wg       sync.WaitGroup
	handlers sync.WaitGroup
}

// New builds the service. It does not touch the store or the bus until
// Migrate and Start.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var missing []error
	if deps.DB == nil {
		missing = append(missing, errors.New("publisher: Deps.DB is required"))
	}
	if deps.Bus == nil {
		missing = append(missing, errors.New("publisher: Deps.Bus is required"))
	}
	if deps.Blob == nil {
		missing = append(missing, errors.New("publisher: Deps.Blob is required"))
	}
	if deps.Portal == nil {
		missing = append(missing, errors.New("publisher: Deps.Portal is required"))
	}
	for name, p := range deps.Providers {
		if p == nil {
			missing = append(missing, fmt.Errorf("publisher: Deps.Providers[%q] is nil", name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "publisher")
	providers := make(map[string]provider.Provider, len(deps.Providers))
	for name, p := range deps.Providers {
		providers[name] = p
	}
	return &Service{
		cfg:       cfg,
		db:        deps.DB,
		bus:       deps.Bus,
		log:       log,
		blob:      deps.Blob,
		portal:    deps.Portal,
		providers: providers,
		coord:     deps.Coord,
		instance:  id.New("pub"),
		outbox:    outbox.New(deps.DB, tablePrefix, deps.Bus, log),
		now:       time.Now,
		retrySem:  make(chan struct{}, cfg.RetryConcurrency),
		busy:      map[string]bool{},
		creds:     map[string]*portalv1.Target{},
	}, nil
}

// Migrate creates or upgrades the service's tables.
func (s *Service) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("publisher: migrations: %w", err)
	}
	if err := s.db.Migrate(ctx, tablePrefix, sub); err != nil {
		return err
	}
	return s.outbox.Migrate(ctx)
}

// Start relays the outbox, subscribes to post.due and runs the retry loop.
// It returns once the subscription is ready. Background work stops when
// ctx is cancelled or Close is called.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return errors.New("publisher: Start after Close")
	case s.started:
		s.mu.Unlock()
		return errors.New("publisher: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	// Set before subscribing: deliveries may begin before Subscribe returns.
	s.started, s.runCtx, s.stop = true, ctx, cancel
	s.mu.Unlock()

	// Announce this instance before it claims anything, so no other node
	// takes its claims for a dead one's.
	if err := s.register(ctx); err != nil {
		cancel()
		s.mu.Lock()
		s.started, s.runCtx, s.stop = false, nil, nil
		s.mu.Unlock()
		return fmt.Errorf("publisher: registering this instance: %w", err)
	}
	sub, err := s.bus.Subscribe(ctx, bus.TopicPostDue, consumerGroup, s.handlePostDue,
		bus.WithConcurrency(s.cfg.Concurrency))
	if err != nil {
		cancel()
		s.mu.Lock()
		s.started, s.runCtx, s.stop = false, nil, nil // Start may be tried again
		s.mu.Unlock()
		return fmt.Errorf("publisher: subscribing to %s: %w", bus.TopicPostDue, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Close ran meanwhile and could not see the subscription.
		return errors.Join(errors.New("publisher: closed while starting"), sub.Close())
	}
	s.sub = sub
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		s.outbox.Run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.reapLoop(ctx, 5*time.Second)
	}()
	go func() {
		defer s.wg.Done()
		s.retryLoop(ctx)
	}()
	return nil
}

// Close stops the background work and waits for it. Attempts in flight are
// left for the retry loop of this or another node to settle.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stop, sub := s.stop, s.sub
	s.mu.Unlock()
	// Cancel first: calls in progress end now, as unknown outcomes that a
	// later try settles with the same key, instead of holding shutdown up
	// for as long as a network takes to answer.
	if stop != nil {
		stop()
	}
	var err error
	if sub != nil {
		err = sub.Close()
	}
	s.handlers.Wait()
	s.wg.Wait()
	return err
}

var _ publisherv1connect.PublisherServiceHandler = (*Service)(nil)
