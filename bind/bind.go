// Package bind gives each caller its client of a service, by configuration:
// the service's own handler for a method call in this process, or a Connect
// client speaking gRPC or Connect's HTTP/JSON protocol to the node that runs
// it. Every generated client and handler interface is the same Go interface
// (Connect's "simple" option), so the caller's code does not change.
//
// Errors keep their kind across the network: handlers and clients both carry
// errs.Interceptor, and calls between services carry the internal token.
package bind

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/gen/herald/notification/v1/notificationv1connect"
	"github.com/heraldhq/herald/gen/herald/portal/v1/portalv1connect"
	"github.com/heraldhq/herald/gen/herald/publisher/v1/publisherv1connect"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
)

// TokenHeader carries the internal token on calls between services.
const TokenHeader = "Herald-Internal-Token"

// Binder makes clients for one node.
type Binder struct {
	// Token is the internal token sent with every remote call.
	Token string
	// HTTP is the client for remote calls; it speaks HTTP/2 without TLS
	// (h2c) to http:// URLs so gRPC works on a private network.
	HTTP *http.Client
	// Interceptors run around every remote call, outside the error and
	// token ones (tracing and metrics, so they see the call as sent).
	Interceptors []connect.Interceptor
	// Registry finds the nodes of a service bound with discover.
	Registry Registry
	// Links holds the balancer of every service reached at several nodes
	// or through the registry, by service name (for the topology view).
	Links map[string]*Balancer
}

// New returns a Binder sending token with remote calls.
func New(token string) *Binder {
	return &Binder{Token: token, HTTP: NewHTTPClient()}
}

// NewHTTPClient returns an HTTP client that speaks HTTP/1.1 and, to http://
// URLs, HTTP/2 with prior knowledge (h2c), which gRPC needs.
func NewHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	t.Protocols.SetHTTP2(true)
	return &http.Client{Transport: t}
}

func (b *Binder) options(ep config.Endpoint) []connect.ClientOption {
	ics := append(append([]connect.Interceptor(nil), b.Interceptors...), errs.Interceptor(), tokenSender(b.Token))
	opts := []connect.ClientOption{connect.WithInterceptors(ics...)}
	switch ep.Transport {
	case config.TransportGRPC:
		opts = append(opts, connect.WithGRPC())
	case config.TransportConnect:
		opts = append(opts, connect.WithProtoJSON())
	}
	return opts
}

func bind[C any](b *Binder, name string, ep config.Endpoint, local C, hasLocal bool,
	remote func(connect.HTTPClient, string, ...connect.ClientOption) C) (C, error) {
	var zero C
	switch ep.Transport {
	case config.TransportLocal, "":
		if !hasLocal {
			return zero, fmt.Errorf("bind: %s is local but not running on this node", name)
		}
		return local, nil
	case config.TransportGRPC, config.TransportConnect:
		urls := ep.URLs()
		switch {
		case ep.Discover:
			if b.Registry == nil {
				return zero, fmt.Errorf("bind: services.%s.discover needs a registry", name)
			}
			c, base := b.balanced(name, NewRegistryResolver(b.Registry, name, 0))
			return remote(c, base, b.options(ep)...), nil
		case len(urls) > 1:
			c, base := b.balanced(name, Static(trimAll(urls)))
			return remote(c, base, b.options(ep)...), nil
		case len(urls) == 0:
			return zero, fmt.Errorf("bind: services.%s.url is empty", name)
		}
		return remote(b.HTTP, strings.TrimRight(urls[0], "/"), b.options(ep)...), nil
	default:
		return zero, fmt.Errorf("bind: services.%s.transport %q unknown", name, ep.Transport)
	}
}

func trimAll(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimRight(u, "/")
	}
	return out
}

// Portal returns the Portal client for ep; local is the in-process handler
// (nil when this node does not run Portal).
func (b *Binder) Portal(ep config.Endpoint, local portalv1connect.PortalServiceHandler) (portalv1connect.PortalServiceClient, error) {
	return bind[portalv1connect.PortalServiceClient](b, config.Portal, ep, local, local != nil, portalv1connect.NewPortalServiceClient)
}

// Trigger returns the Trigger client for ep.
func (b *Binder) Trigger(ep config.Endpoint, local triggerv1connect.TriggerServiceHandler) (triggerv1connect.TriggerServiceClient, error) {
	return bind[triggerv1connect.TriggerServiceClient](b, config.Trigger, ep, local, local != nil, triggerv1connect.NewTriggerServiceClient)
}

// Publisher returns the Publisher client for ep.
func (b *Binder) Publisher(ep config.Endpoint, local publisherv1connect.PublisherServiceHandler) (publisherv1connect.PublisherServiceClient, error) {
	return bind[publisherv1connect.PublisherServiceClient](b, config.Publisher, ep, local, local != nil, publisherv1connect.NewPublisherServiceClient)
}

// Notification returns the Notification client for ep.
func (b *Binder) Notification(ep config.Endpoint, local notificationv1connect.NotificationServiceHandler) (notificationv1connect.NotificationServiceClient, error) {
	return bind[notificationv1connect.NotificationServiceClient](b, config.Notification, ep, local, local != nil, notificationv1connect.NewNotificationServiceClient)
}

// HandlerOptions are the options every service handler is mounted with;
// outer interceptors (tracing, metrics) run outside the error and token
// ones, so they also see the calls the token check refuses.
func HandlerOptions(token string, outer ...connect.Interceptor) []connect.HandlerOption {
	ics := append(append([]connect.Interceptor(nil), outer...), errs.Interceptor(), tokenChecker(token))
	return []connect.HandlerOption{connect.WithInterceptors(ics...)}
}

// RequireToken wraps a plain HTTP handler (the notification stream) so only
// callers with the internal token reach it.
func RequireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !validToken(token, r.Header.Get(TokenHeader)) {
			http.Error(w, "internal endpoint", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func validToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

type tokenInterceptor struct {
	token string
	check bool
}

func tokenSender(token string) connect.Interceptor { return tokenInterceptor{token: token} }
func tokenChecker(token string) connect.Interceptor {
	return tokenInterceptor{token: token, check: true}
}

func (t tokenInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !t.check {
			req.Header().Set(TokenHeader, t.token)
		} else if !validToken(t.token, req.Header().Get(TokenHeader)) {
			return nil, errs.E(errs.Unauthenticated, "calls between services need the internal token")
		}
		return next(ctx, req)
	}
}

func (t tokenInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (t tokenInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
