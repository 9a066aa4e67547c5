package portal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/gen/herald/trigger/v1/triggerv1connect"
	"github.com/heraldhq/herald/provider"
)

// fakeBus delivers synchronously: Publish calls every group's handler for
// the topic before it returns.
type fakeBus struct {
	mu   sync.Mutex
	subs map[string]map[string]bus.Handler // topic -> group -> handler
}

func newFakeBus() *fakeBus { return &fakeBus{subs: map[string]map[string]bus.Handler{}} }

func (b *fakeBus) Publish(ctx context.Context, msgs ...*bus.Message) error {
	for _, m := range msgs {
		b.mu.Lock()
		var hs []bus.Handler
		for _, h := range b.subs[m.Topic] {
			hs = append(hs, h)
		}
		b.mu.Unlock()
		for _, h := range hs {
			if err := h(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *fakeBus) Subscribe(_ context.Context, topic, group string, h bus.Handler, _ ...bus.SubscribeOption) (bus.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[string]bus.Handler{}
	}
	b.subs[topic][group] = h
	return subFunc(func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[topic], group)
		return nil
	}), nil
}

func (b *fakeBus) Features() bus.Features     { return bus.Features{PublishWaitsForHandlers: true} }
func (b *fakeBus) Ping(context.Context) error { return nil }
func (b *fakeBus) Close() error               { return nil }
func (b *fakeBus) subscribed(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[topic]["portal"] != nil
}

type subFunc func() error

func (f subFunc) Close() error { return f() }

// fakeTrigger records schedules; fail makes every call fail as if Trigger
// were down.
type fakeTrigger struct {
	// Queues are not faked: tests of them use the real service. Feeds are,
	// so tests can deliver items by hand (TestAutomationWithTriggerFeeds
	// uses the real ones).
	triggerv1connect.UnimplementedTriggerServiceHandler
	*fakeFeeds
	mu        sync.Mutex
	schedules map[string]*triggerv1.ScheduleRequest
	cancelled []string
	calls     int
	fail      error
}

func newFakeTrigger() *fakeTrigger {
	return &fakeTrigger{schedules: map[string]*triggerv1.ScheduleRequest{}, fakeFeeds: newFakeFeeds()}
}

// fakeFeeds keeps feeds as Trigger's contract says: a url of http or
// https, an interval from 5 minutes to a week (15 minutes when unset), a
// backfill of 0 to 20. refuse, when set, is returned by PutFeed instead (as
// Trigger refusing a URL it would not fetch).
type fakeFeeds struct {
	mu     sync.Mutex
	feeds  map[string]*triggerv1.PutFeedRequest
	refuse error
	down   bool
}

func newFakeFeeds() *fakeFeeds { return &fakeFeeds{feeds: map[string]*triggerv1.PutFeedRequest{}} }

func (f *fakeFeeds) PutFeed(_ context.Context, req *triggerv1.PutFeedRequest) (*triggerv1.PutFeedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused")
	}
	if f.refuse != nil {
		return nil, f.refuse
	}
	var v errs.Fields
	if u, err := url.Parse(req.GetUrl()); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		v.Add("url", "must be an http or https URL")
	}
	if d := req.GetInterval(); d != nil && (d.AsDuration() < 5*time.Minute || d.AsDuration() > 7*24*time.Hour) {
		v.Add("interval", "must be from 5m to 168h")
	}
	if req.GetBackfill() < 0 || req.GetBackfill() > 20 {
		v.Add("backfill", "must be from 0 to 20")
	}
	if req.GetTenantId() == "" || req.GetFeedId() == "" || req.GetWorkspaceId() == "" {
		v.Add("feed_id", "tenant_id, feed_id and workspace_id are required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	f.feeds[req.GetFeedId()] = req
	return &triggerv1.PutFeedResponse{Feed: f.feedLocked(req)}, nil
}

func (f *fakeFeeds) feedLocked(req *triggerv1.PutFeedRequest) *triggerv1.Feed {
	return &triggerv1.Feed{FeedId: req.GetFeedId(), TenantId: req.GetTenantId(), WorkspaceId: req.GetWorkspaceId(), Url: req.GetUrl(),
		Interval: req.GetInterval(), Paused: req.GetPaused(), Health: triggerv1.FeedHealth_FEED_HEALTH_OK}
}

func (f *fakeFeeds) GetFeed(_ context.Context, req *triggerv1.GetFeedRequest) (*triggerv1.GetFeedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused")
	}
	fr, ok := f.feeds[req.GetFeedId()]
	if !ok || fr.GetTenantId() != req.GetTenantId() {
		return nil, errs.E(errs.NotFound, "feed not found")
	}
	return &triggerv1.GetFeedResponse{Feed: f.feedLocked(fr)}, nil
}

func (f *fakeFeeds) ListFeeds(_ context.Context, req *triggerv1.ListFeedsRequest) (*triggerv1.ListFeedsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &triggerv1.ListFeedsResponse{}
	for _, fr := range f.feeds {
		if fr.GetTenantId() == req.GetTenantId() && (req.GetWorkspaceId() == "" || fr.GetWorkspaceId() == req.GetWorkspaceId()) {
			res.Feeds = append(res.Feeds, f.feedLocked(fr))
		}
	}
	return res, nil
}

func (f *fakeFeeds) DeleteFeed(_ context.Context, req *triggerv1.DeleteFeedRequest) (*triggerv1.DeleteFeedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused")
	}
	fr, ok := f.feeds[req.GetFeedId()]
	if ok && fr.GetTenantId() == req.GetTenantId() {
		delete(f.feeds, req.GetFeedId())
	}
	return &triggerv1.DeleteFeedResponse{Deleted: ok}, nil
}

func (f *fakeTrigger) PutFeed(ctx context.Context, r *triggerv1.PutFeedRequest) (*triggerv1.PutFeedResponse, error) {
	return f.fakeFeeds.PutFeed(ctx, r)
}
func (f *fakeTrigger) GetFeed(ctx context.Context, r *triggerv1.GetFeedRequest) (*triggerv1.GetFeedResponse, error) {
	return f.fakeFeeds.GetFeed(ctx, r)
}
func (f *fakeTrigger) ListFeeds(ctx context.Context, r *triggerv1.ListFeedsRequest) (*triggerv1.ListFeedsResponse, error) {
	return f.fakeFeeds.ListFeeds(ctx, r)
}
func (f *fakeTrigger) DeleteFeed(ctx context.Context, r *triggerv1.DeleteFeedRequest) (*triggerv1.DeleteFeedResponse, error) {
	return f.fakeFeeds.DeleteFeed(ctx, r)
}

func (f *fakeFeeds) feed(id string) *triggerv1.PutFeedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.feeds[id]
}

func (f *fakeTrigger) setFail(err error) { f.mu.Lock(); f.fail = err; f.mu.Unlock() }

func (f *fakeTrigger) Schedule(_ context.Context, req *triggerv1.ScheduleRequest) (*triggerv1.ScheduleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	f.schedules[req.GetScheduleId()] = req
	return &triggerv1.ScheduleResponse{Schedule: &triggerv1.Schedule{ScheduleId: req.GetScheduleId(), State: triggerv1.ScheduleState_SCHEDULE_STATE_PENDING}}, nil
}

func (f *fakeTrigger) Cancel(_ context.Context, req *triggerv1.CancelRequest) (*triggerv1.CancelResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	f.cancelled = append(f.cancelled, req.GetScheduleId())
	delete(f.schedules, req.GetScheduleId())
	return &triggerv1.CancelResponse{}, nil
}

func (f *fakeTrigger) GetSchedule(context.Context, *triggerv1.GetScheduleRequest) (*triggerv1.GetScheduleResponse, error) {
	return nil, errs.E(errs.Internal, "not used")
}

func (f *fakeTrigger) schedule(id string) *triggerv1.ScheduleRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.schedules[id]
}

func (f *fakeTrigger) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.schedules) }

// fakePublisher validates like a network with a 500-character limit and
// at most 4 media.
type fakePublisher struct {
	mu    sync.Mutex
	calls []*publisherv1.ValidateRequest
}

func (f *fakePublisher) Validate(_ context.Context, req *publisherv1.ValidateRequest) (*publisherv1.ValidateResponse, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	res := &publisherv1.ValidateResponse{Limits: &publisherv1.NetworkLimits{MaxTextChars: 500, MaxMedia: 4,
		Threads: true, FirstComment: req.GetNetwork() != "nocomments"}}
	if n := utf8.RuneCountInString(req.GetText()); n > 500 {
		res.Violations = append(res.Violations, &publisherv1.Violation{Field: "text", Message: fmt.Sprintf("is %d characters; the limit is 500", n)})
	}
	if len(req.GetMedia()) > 4 {
		res.Violations = append(res.Violations, &publisherv1.Violation{Field: "media", Message: "at most 4 media"})
	}
	return res, nil
}

func (f *fakePublisher) ListAttempts(context.Context, *publisherv1.ListAttemptsRequest) (*publisherv1.ListAttemptsResponse, error) {
	return &publisherv1.ListAttemptsResponse{}, nil
}

// fakeNotification returns one notification and remembers who asked.
type fakeNotification struct {
	mu   sync.Mutex
	asks []*notificationv1.ListNotificationsRequest
	read []*notificationv1.MarkReadRequest
	// Preferences (prefs_fake_test.go).
	prefAsks     []string
	prefs        map[string]string
	digest       *notificationv1.Digest
	unsubscribed int
}

func (f *fakeNotification) ListNotifications(_ context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asks = append(f.asks, req)
	return &notificationv1.ListNotificationsResponse{Unread: 1, Notifications: []*notificationv1.Notification{{
		NotificationId: "ntf_1", TenantId: req.GetTenantId(), UserId: req.GetUserId(), Kind: "post.published", Title: "Published",
	}}}, nil
}

func (f *fakeNotification) MarkRead(_ context.Context, req *notificationv1.MarkReadRequest) (*notificationv1.MarkReadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = append(f.read, req)
	return &notificationv1.MarkReadResponse{Marked: int32(len(req.GetNotificationIds()))}, nil
}

// fakeProvider knows a set of valid tokens and plays the OAuth server.
type fakeProvider struct {
	mu            sync.Mutex
	tokens        map[string]provider.Profile
	codes         map[string]string // code -> token
	registrations int
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{tokens: map[string]provider.Profile{}, codes: map[string]string{}}
}

func (f *fakeProvider) addToken(token, remoteID, handle string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = provider.Profile{RemoteID: remoteID, Handle: handle, DisplayName: strings.ToUpper(handle), URL: "https://social.example/@" + handle}
}

func (f *fakeProvider) Network() string { return "mastodon" }
func (f *fakeProvider) Limits() provider.Limits {
	return provider.Limits{MaxTextChars: 500, MaxMedia: 4}
}
func (f *fakeProvider) Validate(string, []provider.Media) []provider.Violation {
	return nil
}
func (f *fakeProvider) Publish(context.Context, provider.Account, provider.Post) (provider.Result, error) {
	return provider.Result{}, errors.New("not used")
}

func (f *fakeProvider) VerifyCredentials(_ context.Context, a provider.Account) (provider.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(a.InstanceURL, "unreachable") {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: "connection refused"}
	}
	p, ok := f.tokens[a.AccessToken]
	if !ok {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: "The access token is invalid", Status: 401}
	}
	return p, nil
}

func (f *fakeProvider) RegisterApp(_ context.Context, instanceURL, redirectURI string) (OAuthApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registrations++
	return OAuthApp{ClientID: fmt.Sprintf("client-%d", f.registrations), ClientSecret: "client-secret", Scopes: "read write"}, nil
}

func (f *fakeProvider) AuthorizeURL(instanceURL, redirectURI string, app OAuthApp, state string) (string, error) {
	q := url.Values{"client_id": {app.ClientID}, "redirect_uri": {redirectURI}, "state": {state}, "response_type": {"code"}, "scope": {app.Scopes}}
	return instanceURL + "/oauth/authorize?" + q.Encode(), nil
}

func (f *fakeProvider) ExchangeCode(_ context.Context, instanceURL, redirectURI string, app OAuthApp, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.codes[code]
	if !ok || app.ClientSecret != "client-secret" {
		return "", &provider.Error{Kind: provider.BadContent, Message: "invalid_grant"}
	}
	delete(f.codes, code)
	return tok, nil
}
