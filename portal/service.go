package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"

	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/gen/herald/notification/v1/notificationv1connect"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/gen/herald/publisher/v1/publisherv1connect"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/mediaurl"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/store"
)

// tablePrefix marks every table Portal owns.
const tablePrefix = "portal_"

//go:embed migrations/*.sql
var migrations embed.FS

// OAuthApp is Herald's registration as an OAuth client on one server.
type OAuthApp struct {
	ClientID     string
	ClientSecret string
	// Scopes granted at registration; authorization asks for the same.
	Scopes string
}

// OAuthFlow is what a network offers for connecting an account through
// OAuth's authorization-code flow. Errors should be errs errors (field
// "instance_url" or "code" for bad input) or *provider.Error.
type OAuthFlow interface {
	// RegisterApp registers Herald as a client on the server.
	RegisterApp(ctx context.Context, instanceURL, redirectURI string) (OAuthApp, error)
	// AuthorizeURL is where to send the user's browser to grant access.
	AuthorizeURL(instanceURL, redirectURI string, app OAuthApp, state string) (string, error)
	// ExchangeCode trades the code the server redirected back with for an
	// access token.
	ExchangeCode(ctx context.Context, instanceURL, redirectURI string, app OAuthApp, code string) (accessToken string, err error)
}

// OAuthCredentialsFlow is implemented by an OAuthFlow whose network issues
// more than an access token: a refresh token and an expiry, and a secret
// its provider needs later (to refresh, say). Portal stores them all
// sealed and hands them to Publisher with the job.
type OAuthCredentialsFlow interface {
	ExchangeCredentials(ctx context.Context, instanceURL, redirectURI string, app OAuthApp, code string) (cr provider.Credentials, secret string, err error)
}

// Deps is what Portal uses.
type Deps struct {
	DB  *store.DB
	Bus bus.Bus
	Log *slog.Logger
	// Blob holds media files.
	Blob *gcblob.Bucket

	Trigger      triggerv1connect.TriggerServiceClient
	Publisher    publisherv1connect.PublisherServiceClient
	Notification notificationv1connect.NotificationServiceClient
	// NotificationStream is the Notification service's live stream (SSE),
	// taking tenant_id and user_id query parameters. Portal authenticates
	// the browser and sets them; it must not be reachable otherwise.
	NotificationStream http.Handler

	// Outbound fetches URLs users give (media of a bulk import); it must
	// be the SSRF-safe client of package outbound. Nil refuses them.
	Outbound *http.Client

	// Providers by network name, to verify accounts' credentials.
	Providers map[string]provider.Provider
	// OAuth flows by network name, for networks whose provider does not
	// offer one itself: a provider that implements OAuthFlow, or the
	// Mastodon provider (adapted by Portal), needs no entry here.
	OAuth map[string]OAuthFlow
	// AppOAuth are the networks connected through OAuth with an app of
	// Herald's own, by network name; only those whose app is configured.
	AppOAuth map[string]AppOAuthFlow
	// MediaURLs checks the signed media links Publisher hands the networks
	// that fetch media themselves; nil serves none.
	MediaURLs *mediaurl.Signer
}

// Service is the Portal service.
type Service struct {
	cfg  Config
	db   *store.DB
	bus  bus.Bus
	log  *slog.Logger
	blob *gcblob.Bucket
	// mediaURLs checks signed media links (nil: none are served).
	mediaURLs *mediaurl.Signer
	outbox    *outbox.Outbox
	outbound  *http.Client

	trigger            triggerv1connect.TriggerServiceClient
	publisher          publisherv1connect.PublisherServiceClient
	notification       notificationv1connect.NotificationServiceClient
	notificationStream http.Handler
	providers          map[string]provider.Provider
	oauth              map[string]OAuthFlow
	appOAuth           map[string]AppOAuthFlow

	keys   *keys
	hasher *hasher
	// reads are what Portal reads through the cache (cached.go).
	reads reads

	loginByIP, loginByEmail, publicByIP, apiByUser *limiter
	crossOrigin                                    *http.CrossOriginProtection

	handlerOnce sync.Once
	handler     http.Handler

	// recovered is closed after the first maintenance pass of Start.
	recovered chan struct{}

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	subs    []bus.Subscription
	wg      sync.WaitGroup
}

// New builds the service. It does not touch the database: call Migrate,
// then Start.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.Bus == nil || deps.Blob == nil {
		return nil, errors.New("portal: DB, Bus and Blob are required")
	}
	if deps.Trigger == nil || deps.Publisher == nil || deps.Notification == nil {
		return nil, errors.New("portal: Trigger, Publisher and Notification clients are required")
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("service", "portal")
	k, err := deriveKeys(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("portal: deriving keys: %w", err)
	}
	s := &Service{
		cfg: cfg, db: deps.DB, bus: deps.Bus, log: log, blob: deps.Blob, mediaURLs: deps.MediaURLs,
		outbox:             outbox.New(deps.DB, tablePrefix, deps.Bus, log),
		outbound:           deps.Outbound,
		trigger:            deps.Trigger,
		publisher:          deps.Publisher,
		notification:       deps.Notification,
		notificationStream: deps.NotificationStream,
		providers:          map[string]provider.Provider{},
		oauth:              map[string]OAuthFlow{},
		appOAuth:           map[string]AppOAuthFlow{},
		keys:               k,
		hasher:             newHasher(cfg),
		reads:              newReads(cfg.Cache),
		loginByIP:          newLimiter(cfg.LoginRate, cfg.LoginBurst),
		loginByEmail:       newLimiter(cfg.LoginRate, cfg.LoginBurst),
		publicByIP:         newLimiter(cfg.PublicRate, cfg.PublicBurst),
		apiByUser:          newLimiter(cfg.APIRate, cfg.APIBurst),
		crossOrigin:        http.NewCrossOriginProtection(),
	}
	for name, p := range deps.Providers {
		s.providers[name] = p
		switch f := p.(type) {
		case OAuthFlow:
			s.oauth[name] = f
		case *mastodon.Provider:
			s.oauth[name] = mastodonOAuth{p: f, website: cfg.BaseURL}
		}
	}
	for name, f := range deps.OAuth {
		s.oauth[name] = f
	}
	for name, f := range deps.AppOAuth {
		s.appOAuth[name] = f
		delete(s.oauth, name)
	}
	origins := append([]string{originOf(cfg.BaseURL)}, cfg.TrustedOrigins...)
	for _, o := range origins {
		if err := s.crossOrigin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("portal: trusted origin %q: %w", o, err)
		}
	}
	return s, nil
}

// Migrate applies Portal's migrations and creates its outbox and inbox.
func (s *Service) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := s.db.Migrate(ctx, tablePrefix, sub); err != nil {
		return err
	}
	return s.outbox.Migrate(ctx)
}

// Start subscribes to the events Portal follows, starts the outbox relay
// and the maintenance loop, and returns once the subscriptions are ready.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("portal: already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	batcher := bus.NewBatcher(s.onEvents, batching)
	for topic, h := range map[string]bus.Handler{
		bus.TopicPostDue:               s.onPostDue,
		bus.TopicScheduleMoved:         s.onScheduleMoved,
		bus.TopicScheduleSkipped:       s.onScheduleSkipped,
		bus.TopicFeedItem:              s.onFeedItem,
		bus.TopicPostPublished:         s.onPostPublished,
		bus.TopicPostFailed:            s.onPostFailed,
		bus.TopicAccountNeedsReconnect: s.onAccountNeedsReconnect,
	} {
		if batched(topic) {
			h = batcher.Handle
		}
		sub, err := s.bus.Subscribe(runCtx, topic, "portal", h, subscribeOptions(topic)...)
		if err != nil {
			cancel()
			for _, sb := range s.subs {
				sb.Close()
			}
			s.subs = nil
			return fmt.Errorf("portal: subscribing to %s: %w", topic, err)
		}
		s.subs = append(s.subs, sub)
	}
	s.cancel = cancel
	s.started = true
	s.recovered = make(chan struct{})
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.outbox.Run(runCtx) }()
	go func() { defer s.wg.Done(); s.maintain(runCtx) }()
	return nil
}

// Close stops the background work and waits for it.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	err := bus.CloseAll(s.subs)
	s.subs = nil
	s.cancel()
	s.wg.Wait()
	s.started = false
	return err
}

var _ portalv1connect.PortalServiceHandler = (*Service)(nil)
