package publisher

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/coord/mem"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
	"github.com/heraldhq/herald/store/storetest"
)

// expiringAccount is a simnet server whose tokens expire, with one account
// connected to Herald's app there: its grant and the app's secret.
type expiringAccount struct {
	sim    *simnet.Server
	url    string
	client *httptest.Server
	grant  simnet.Grant
	secret string
}

func newExpiringAccount(t *testing.T) *expiringAccount {
	t.Helper()
	sim := simnet.New(simnet.Options{AccessTokenTTL: time.Hour})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	app, err := mastodon.New(srv.Client()).RegisterApp(t.Context(), srv.URL,
		mastodon.AppConfig{ClientName: "Herald", RedirectURI: mastodon.OutOfBand})
	if err != nil {
		t.Fatal(err)
	}
	return &expiringAccount{sim: sim, url: srv.URL, client: srv, grant: sim.GrantToken(app.ClientID, "alice"), secret: mastodon.AppSecret(app)}
}

func (e *expiringAccount) provider() map[string]provider.Provider {
	return map[string]provider.Provider{"mastodon": mastodon.New(e.client.Client())}
}

// jobs makes n one-target posts to acct_1, its credentials Portal's.
func (e *expiringAccount) jobs(p *fakePortal, n int) []*portalv1.PublishJob {
	var out []*portalv1.PublishJob
	for i := range n {
		j := simnetJob("agency_a", e.url, map[string]string{"acct_1": "overlaid by the stored credentials"}, fmt.Sprintf("post %d", i))
		j.Targets[0].Secret = e.secret
		p.set(j, true)
		out = append(out, j)
	}
	return out
}

// dueAll delivers the post.due of every job at once, spread over the
// bundles.
func dueAll(t *testing.T, jobs []*portalv1.PublishJob, tbs ...*bundle) {
	t.Helper()
	var wg sync.WaitGroup
	for i, j := range jobs {
		tb := tbs[i%len(tbs)]
		wg.Go(func() { tb.mustDue(t, j, time.Now()) })
	}
	wg.Wait()
}

// published counts the posts published, over the bundles' recorders (two
// nodes' outboxes may both relay an event).
func published(tbs ...*bundle) int {
	posts := map[string]bool{}
	for _, tb := range tbs {
		for _, ev := range tb.events.Published() {
			posts[ev.GetPostId()] = true
		}
	}
	return len(posts)
}

func checkRenewedOnce(t *testing.T, e *expiringAccount, p *fakePortal, tbs ...*bundle) {
	t.Helper()
	eventually(t, "50 post.published", func() bool { return published(tbs...) == 50 })
	if n := e.sim.Refreshes(); n != 1 {
		t.Errorf("the network renewed the token %d times, want 1", n)
	}
	stored, updates := p.Creds("acct_1")
	if updates != 1 || stored.GetAccessToken() == e.grant.AccessToken || stored.GetRefreshToken() == e.grant.RefreshToken ||
		stored.GetExpiresAt().AsTime().Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("portal holds %v after %d updates, want the renewed credentials stored once", stored, updates)
	}
	if n := len(e.sim.Statuses()); n != 50 {
		t.Errorf("simnet holds %d statuses, want 50", n)
	}
	for _, tb := range tbs {
		if f := tb.events.Failed(); len(f) != 0 {
			t.Errorf("post.failed: %v", f)
		}
	}
}

// Fifty publishes due at once on an account whose token is about to
// expire renew it once, and all go out with the new token.
func TestRefreshOnceBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := newExpiringAccount(t)
	tb := setup(t, setupOptions{providers: e.provider()})
	// Herald believes the token expires within the renewal margin.
	tb.portal.setCreds("acct_1", e.grant.AccessToken, e.grant.RefreshToken, time.Now().Add(time.Minute))
	dueAll(t, e.jobs(tb.portal, 50), tb)
	checkRenewedOnce(t, e, tb.portal, tb)
}

// A token the network expired early is refused as Expired: the tries
// renew it once between them and publish again under the same key.
func TestRefreshOnceAfterExpired(t *testing.T) {
	t.Parallel()
	e := newExpiringAccount(t)
	tb := setup(t, setupOptions{providers: e.provider()})
	tb.portal.setCreds("acct_1", e.grant.AccessToken, e.grant.RefreshToken, time.Time{})
	e.sim.ExpireToken(e.grant.AccessToken)
	dueAll(t, e.jobs(tb.portal, 50), tb)
	checkRenewedOnce(t, e, tb.portal, tb)
}

// Two Publisher nodes sharing a store, Portal and coordinator renew the
// account once between them.
func TestRefreshOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	e := newExpiringAccount(t)
	u := storetest.URL(t)
	space := mem.New()
	t.Cleanup(func() { space.Close() })
	portal := newFakePortal()
	a := setup(t, setupOptions{dbURL: u, portal: portal, coord: space, providers: e.provider()})
	b := setup(t, setupOptions{dbURL: u, portal: portal, coord: space, providers: e.provider()})
	portal.setCreds("acct_1", e.grant.AccessToken, e.grant.RefreshToken, time.Now().Add(time.Minute))
	dueAll(t, e.jobs(portal, 50), a, b)
	checkRenewedOnce(t, e, portal, a, b)
	if len(a.events.Published()) == 0 || len(b.events.Published()) == 0 {
		t.Errorf("published by node a: %d, node b: %d; want both to have worked", len(a.events.Published()), len(b.events.Published()))
	}
}

// A refused renewal fails the publish as disconnected and asks for a
// reconnect; nothing is posted.
func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	e := newExpiringAccount(t)
	tb := setup(t, setupOptions{providers: e.provider()})
	tb.portal.setCreds("acct_1", e.grant.AccessToken, "not-a-refresh-token", time.Now().Add(time.Minute))
	dueAll(t, e.jobs(tb.portal, 3), tb)
	eventually(t, "three post.failed", func() bool { return len(tb.events.Failed()) == 3 })
	for _, f := range tb.events.Failed() {
		if f.GetKind() != kindDisconnected {
			t.Errorf("post.failed kind %q, want %q", f.GetKind(), kindDisconnected)
		}
	}
	eventually(t, "account.needs_reconnect", func() bool { return len(tb.events.Reconnect()) >= 1 })
	if n := len(e.sim.Statuses()); n != 0 {
		t.Errorf("simnet holds %d statuses, want none", n)
	}
	if _, updates := tb.portal.Creds("acct_1"); updates != 0 {
		t.Errorf("portal stored %d updates, want none", updates)
	}
}

// A renewal Portal cannot store at once is stored when it can: the
// renewed refresh token is not lost.
func TestRefreshStoredDespiteABriefPortalFailure(t *testing.T) {
	t.Parallel()
	e := newExpiringAccount(t)
	tb := setup(t, setupOptions{providers: e.provider()})
	tb.portal.setCreds("acct_1", e.grant.AccessToken, e.grant.RefreshToken, time.Now().Add(time.Minute))
	tb.portal.mu.Lock()
	tb.portal.updateFailures = 1
	tb.portal.mu.Unlock()
	jobs := e.jobs(tb.portal, 5)
	dueAll(t, jobs, tb)
	eventually(t, "5 post.published", func() bool { return published(tb) == 5 })
	stored, updates := tb.portal.Creds("acct_1")
	if n := e.sim.Refreshes(); n != 1 || updates != 1 || stored.GetRefreshToken() == e.grant.RefreshToken {
		t.Errorf("refreshes %d, updates %d, stored %v; want the one renewal stored", n, updates, stored)
	}
}
