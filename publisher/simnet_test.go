package publisher

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
	"github.com/heraldhq/herald/simnet"
)

// againstSimnet runs a Publisher whose Mastodon provider talks to a
// simulated Mastodon server.
func againstSimnet(t *testing.T, opts simnet.Options) (*bundle, *simnet.Server, string) {
	t.Helper()
	sim := simnet.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	m := mastodon.New(srv.Client(), mastodon.WithMediaPolling(10*time.Millisecond, 5*time.Second))
	tb := setup(t, setupOptions{providers: map[string]provider.Provider{"mastodon": m}})
	return tb, sim, srv.URL
}

func simnetJob(tenant, instance string, accounts map[string]string, text string) *portalv1.PublishJob {
	j := &portalv1.PublishJob{TenantId: tenant, WorkspaceId: "ws_" + tenant, PostId: id.New("post"), Revision: 1, Text: text}
	for acct, token := range accounts {
		j.Targets = append(j.Targets, &portalv1.Target{AccountId: acct, Network: "mastodon", InstanceUrl: instance, AccessToken: token})
	}
	return j
}

func TestAgainstSimnet(t *testing.T) {
	t.Parallel()

	t.Run("published with media", func(t *testing.T) {
		t.Parallel()
		tb, sim, url := againstSimnet(t, simnet.Options{})
		png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
		if err := tb.blob.WriteAll(context.Background(), "media/m1", png, nil); err != nil {
			t.Fatal(err)
		}
		j := simnetJob("agency_a", url, map[string]string{"acct_1": sim.CreateAccount("alice"), "acct_2": sim.CreateAccount("bob")}, "Hello from Herald")
		j.Media = []*portalv1.MediaRef{{BlobKey: "media/m1", MimeType: "image/png", SizeBytes: int64(len(png)), FileName: "m1.png", Description: "a dot"}}
		tb.portal.set(j, true)
		tb.mustDue(t, j, time.Now())

		eventually(t, "two post.published", func() bool { return len(tb.events.Published()) == 2 })
		statuses := sim.Statuses()
		if len(statuses) != 2 {
			t.Fatalf("simnet holds %d statuses, want 2", len(statuses))
		}
		urls := map[string]bool{}
		for _, st := range statuses {
			urls[st.URL] = true
		}
		for _, ev := range tb.events.Published() {
			if !urls[ev.GetRemoteUrl()] {
				t.Errorf("post.published names %q, not a status on the server", ev.GetRemoteUrl())
			}
		}
	})

	t.Run("dropped answer settled by the idempotency key", func(t *testing.T) {
		t.Parallel()
		tb, sim, url := againstSimnet(t, simnet.Options{Faults: simnet.Faults{DropNext: 1, Path: "/api/v1/statuses"}})
		j := simnetJob("agency_a", url, map[string]string{"acct_1": sim.CreateAccount("alice")}, "Hello once")
		tb.portal.set(j, true)
		tb.mustDue(t, j, time.Now())

		eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
		tb.drained(t)
		st := sim.Stats()
		if st.ConnectionsDropped != 1 || st.DuplicatesAvoided != 1 || len(sim.Statuses()) != 1 {
			t.Errorf("simnet: %d drops, %d duplicates avoided, %d statuses; want 1, 1, 1", st.ConnectionsDropped, st.DuplicatesAvoided, len(sim.Statuses()))
		}
		if n := len(tb.events.Published()); n != 1 {
			t.Errorf("post.published events = %d, want 1", n)
		}
		if ev := tb.events.Published()[0]; ev.GetRemoteUrl() != sim.Statuses()[0].URL {
			t.Errorf("post.published names %q, want the one status %q", ev.GetRemoteUrl(), sim.Statuses()[0].URL)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		tb, sim, url := againstSimnet(t, simnet.Options{MaxChars: 10})
		revoked := sim.CreateAccount("carol")
		sim.RevokeToken(revoked)
		tooLong := simnetJob("agency_a", url, map[string]string{"acct_1": sim.CreateAccount("alice")}, "far more than ten characters")
		disconnected := simnetJob("agency_a", url, map[string]string{"acct_2": revoked}, "short")
		tb.portal.set(tooLong, true)
		tb.portal.set(disconnected, true)
		tb.mustDue(t, tooLong, time.Now())
		tb.mustDue(t, disconnected, time.Now())

		eventually(t, "two post.failed", func() bool { return len(tb.events.Failed()) == 2 })
		kinds := map[string]string{}
		for _, f := range tb.events.Failed() {
			kinds[f.GetAccountId()] = f.GetKind()
			if f.GetReason() == "" {
				t.Errorf("post.failed for %s has no reason", f.GetAccountId())
			}
		}
		if kinds["acct_1"] != "bad_content" || kinds["acct_2"] != "disconnected" {
			t.Errorf("failure kinds = %v, want acct_1 bad_content and acct_2 disconnected", kinds)
		}
		eventually(t, "account.needs_reconnect", func() bool { return len(tb.events.Reconnect()) == 1 })
		if rc := tb.events.Reconnect()[0]; rc.GetAccountId() != "acct_2" {
			t.Errorf("account.needs_reconnect for %s, want acct_2", rc.GetAccountId())
		}
	})

	t.Run("spent budget is not spent again", func(t *testing.T) {
		t.Parallel()
		tb, sim, url := againstSimnet(t, simnet.Options{RateLimit: 2, RateWindow: time.Hour})
		token := sim.CreateAccount("alice")
		var jobs []*portalv1.PublishJob
		for range 3 {
			j := simnetJob("agency_a", url, map[string]string{"acct_1": token}, "hi")
			tb.portal.set(j, true)
			jobs = append(jobs, j)
		}
		for _, j := range jobs {
			tb.mustDue(t, j, time.Now())
		}
		eventually(t, "two post.published", func() bool { return len(tb.events.Published()) == 2 })
		if n := sim.Stats().RateLimited; n != 0 {
			t.Errorf("simnet refused %d requests: the spent budget was not honoured", n)
		}
		atts := tb.attempts(t, "agency_a", jobs[2].GetPostId())
		if len(atts) != 1 || atts[0].GetTries() != 0 || !strings.Contains(atts[0].GetError(), "rate limit") {
			t.Errorf("third post's attempt = %v, want waiting for the rate limit without a try", atts)
		}
	})
}
