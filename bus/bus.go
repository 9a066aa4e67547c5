// Package bus is Herald's event bus port. Events are facts (post.due,
// post.published, ...) carried as protobuf payloads, delivered at least once
// to every consumer group, and to one consumer within a group (competing
// consumers). Consumers must be idempotent: they deduplicate by Message.ID.
//
// Services never publish directly: they write events to their outbox in the
// same transaction as the state change (package outbox), and the outbox
// relay publishes them here. A bus must therefore only report a Publish as
// done once the message is safe by its own standard (durably stored for a
// broker, handled by every group for the in-process bus).
//
// Adapters register a URL scheme with Register; Open picks one by URL
// ("mem://", later "nats://", "stomp://", "amqp://").
package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/internal/openers"
)

// Message is one event on the bus.
type Message struct {
	// ID is unique per event and stable across redeliveries.
	ID    string
	Topic string
	// Payload is the protobuf encoding of the event.
	Payload  []byte
	Metadata map[string]string
	// Delivery counts deliveries of this message to this group, from 1. It
	// is informational: not every backend tracks it exactly.
	Delivery int
}

// Handler handles one delivered message. Returning nil acknowledges it;
// returning an error asks for redelivery later (after the subscription's
// backoff). A handler must be safe to call again with the same message.
type Handler func(ctx context.Context, m *Message) error

// Bus publishes and subscribes.
type Bus interface {
	// Publish hands messages to the bus. When it returns nil the bus has
	// taken responsibility for delivering them at least once.
	Publish(ctx context.Context, msgs ...*Message) error
	// Subscribe delivers every message of topic to h, once per group across
	// all subscribers with that group name (competing consumers); each group
	// receives every message. It returns when the subscription is ready:
	// messages published after that are delivered. Delivery stops when ctx
	// is cancelled or the Subscription is closed.
	Subscribe(ctx context.Context, topic, group string, h Handler, opts ...SubscribeOption) (Subscription, error)
	// Features says what this bus guarantees beyond at-least-once.
	Features() Features
	// Ping reports whether the bus is usable; it backs readiness.
	Ping(ctx context.Context) error
	Close() error
}

// Subscription is a running subscription.
type Subscription interface {
	Close() error
}

// Features declares what a bus guarantees, so the conformance suite tests
// exactly that and callers rely on nothing more.
type Features struct {
	// Durable: accepted messages survive a restart of the bus (a broker), or
	// for the in-process bus, Publish returns only after every group handled
	// the message, so the outbox keeps anything not yet handled.
	Durable bool
	// OrderedPerTopic: a single consumer of a group sees messages in publish
	// order when nothing is redelivered.
	OrderedPerTopic bool
	// PublishWaitsForHandlers: Publish returns only after every subscribed
	// group has acknowledged (the in-process bus).
	PublishWaitsForHandlers bool
}

// SubscribeOptions tune a subscription.
type SubscribeOptions struct {
	// Concurrency is how many messages this subscriber handles at once.
	Concurrency int
	// Backoff is how long a nacked message waits before redelivery.
	Backoff time.Duration
}

// SubscribeOption sets a SubscribeOptions field.
type SubscribeOption func(*SubscribeOptions)

// WithConcurrency sets how many messages are handled at once.
func WithConcurrency(n int) SubscribeOption {
	return func(o *SubscribeOptions) { o.Concurrency = n }
}

// WithBackoff sets the redelivery delay after a handler error.
func WithBackoff(d time.Duration) SubscribeOption {
	return func(o *SubscribeOptions) { o.Backoff = d }
}

// ApplyOptions resolves options over the defaults, for adapters.
func ApplyOptions(opts []SubscribeOption) SubscribeOptions {
	o := SubscribeOptions{Concurrency: 8, Backoff: 500 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	return o
}

// Opener opens a bus for one URL scheme.
type Opener = openers.Opener[Bus]

var registry = openers.New[Bus]("bus")

// Register makes an adapter available under a URL scheme; adapters call it
// from init.
func Register(scheme string, o Opener) { registry.Register(scheme, o) }

// Schemes lists the registered URL schemes.
func Schemes() []string { return registry.Schemes() }

// Open opens the bus named by rawURL.
func Open(ctx context.Context, rawURL string) (Bus, error) { return registry.Open(ctx, rawURL) }

// ErrClosed is returned by a bus, or the node's gate in front of it, that
// no longer takes messages. It is expected during shutdown: the outbox keeps
// the event and publishes it next time.
var ErrClosed = errs.E(errs.Unavailable, "the event bus is closed")

// Topics of Herald's events.
const (
	TopicPostDue               = "post.due"
	TopicPostPublished         = "post.published"
	TopicPostFailed            = "post.failed"
	TopicAccountNeedsReconnect = "account.needs_reconnect"
	TopicScheduleMoved         = "schedule.moved"
	TopicScheduleSkipped       = "schedule.skipped"
	TopicFeedItem              = "feed.item"
	TopicApprovalRequested     = "approval.requested"
	TopicApprovalDecided       = "approval.decided"
	TopicApprovalCommented     = "approval.commented"
	TopicCredentialExpiring    = "account.credential_expiring"
	TopicFeedDraftsCreated     = "feed.drafts_created"
	TopicQueueRunningEmpty     = "queue.running_empty"
	TopicTeammateInvited       = "team.invited"
)

// CloseAll closes subs at once and returns when every one has closed. A
// subscription's Close may take a while (a NATS one waits until the
// server holds none of its pull requests, up to a pull's expiry), so a
// service with several would otherwise stop in the sum of those waits.
func CloseAll(subs []Subscription) error {
	errList := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() { errList[i] = sub.Close() })
	}
	wg.Wait()
	return errors.Join(errList...)
}
