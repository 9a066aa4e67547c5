package notify

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/mail"
	"sync"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/gen/herald/notification/v1/notificationv1connect"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/store"
)

// prefix starts the name of every table the service owns.
const prefix = "notify_"

// group is the consumer group of the service on the bus.
const group = "notification"

//go:embed migrations/*.sql
var migrations embed.FS

// Deps is what the service uses.
type Deps struct {
	DB     *store.DB
	Bus    bus.Bus
	Log    *slog.Logger
	Portal portalv1connect.PortalServiceClient
	// Outbound says where webhook and Slack endpoints may be; the zero
	// Policy (public addresses only) is the safe one.
	Outbound outbound.Policy
}

// Service is the Notification service.
type Service struct {
	cfg    Config
	db     *store.DB
	bus    bus.Bus
	log    *slog.Logger
	portal portalv1connect.PortalServiceClient
	outbox *outbox.Outbox
	hub    *hub
	// pushed is what this node pushed to its live streams (live.go).
	pushed pushed
	// batcher records the events of people's notifications in batches
	// (batch.go).
	batcher *bus.Batcher

	// smtp and from are nil when email is disabled.
	smtp *smtpServer
	from *mail.Address
	// mailWake makes the delivery loop look for due emails now.
	mailWake chan struct{}
	// unsubKey signs unsubscribe links; nil without Config.SecretKey.
	unsubKey []byte
	// now is the clock digests and preferences go by; tests set it.
	now func() time.Time
	// hooks posts to endpoints; hookWake makes its loop look now.
	hooks    *http.Client
	policy   outbound.Policy
	hookWake chan struct{}

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	subs    []bus.Subscription
	wg      sync.WaitGroup
	// done is closed by Close, ending the live streams.
	done      chan struct{}
	closeOnce sync.Once
}

// New returns the service; it does nothing until Start.
func New(cfg Config, deps Deps) (*Service, error) {
	switch {
	case deps.DB == nil:
		return nil, errors.New("notify: Deps.DB is required")
	case deps.Bus == nil:
		return nil, errors.New("notify: Deps.Bus is required")
	case deps.Portal == nil:
		return nil, errors.New("notify: Deps.Portal is required")
	}
	srv, from, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("notify: configuration: %w", err)
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "notification")
	key, err := unsubKey(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("notify: deriving the unsubscribe key: %w", err)
	}
	s := &Service{
		unsubKey: key,
		now:      time.Now,
		cfg:      cfg,
		db:       deps.DB,
		bus:      deps.Bus,
		log:      log,
		portal:   deps.Portal,
		outbox:   outbox.New(deps.DB, prefix, deps.Bus, log),
		hub:      newHub(cfg.StreamBuffer),
		smtp:     srv,
		from:     from,
		mailWake: make(chan struct{}, 1),
		hooks:    newHookClient(deps.Outbound, cfg.Webhooks),
		policy:   deps.Outbound,
		hookWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.batcher = bus.NewBatcher(s.handleBatch, bus.BatchOptions{MaxBatch: batchSize})
	return s, nil
}

// Migrate creates or updates the service's tables.
func (s *Service) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := s.db.Migrate(ctx, prefix, sub); err != nil {
		return err
	}
	return s.outbox.Migrate(ctx)
}

// Start subscribes to the events the service consumes and starts the
// outbox relay and the email delivery loop. It returns once the
// subscriptions are ready. The background work runs until Close or until
// ctx is cancelled.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return errors.New("notify: closed")
	default:
	}
	if s.started {
		return errors.New("notify: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	for _, sb := range s.subscriptions() {
		topic := sb.topic
		sub, err := s.bus.Subscribe(ctx, topic, group, sb.h, sb.opts...)
		if err != nil {
			cancel()
			for _, sub := range s.subs {
				_ = sub.Close()
			}
			s.subs = nil
			return fmt.Errorf("notify: subscribing to %s: %w", topic, err)
		}
		s.subs = append(s.subs, sub)
	}
	s.started, s.cancel = true, cancel

	// The service emits no events yet; the relay runs anyway so that one
	// added later is relayed without touching the wiring.
	s.wg.Go(func() { s.outbox.Run(ctx) })
	s.wg.Go(func() { s.hookLoop(ctx) })
	if s.cfg.LiveSweep > 0 {
		s.wg.Go(func() { s.liveLoop(ctx) })
	}
	if s.smtp == nil {
		s.log.Info("notify: SMTP is not configured: email notifications are disabled")
	} else {
		s.log.Info("notify: sending email", "smtp", s.smtp.redacted, "from", s.from.String())
		s.wg.Go(func() { s.deliverLoop(ctx) })
		s.wg.Go(func() { s.digestLoop(ctx) })
	}
	return nil
}

// Close stops consuming, ends the live streams and the background work, and
// waits for them. It does not close the DB or the bus, which it was given.
func (s *Service) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	subs, cancel := s.subs, s.cancel
	s.subs, s.cancel = nil, nil
	s.mu.Unlock()
	err := bus.CloseAll(subs)
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return err
}

// wakeMail makes the delivery loop look for due emails now.
func (s *Service) wakeMail() {
	select {
	case s.mailWake <- struct{}{}:
	default:
	}
}

var _ notificationv1connect.NotificationServiceHandler = (*Service)(nil)
