package publisher

import (
	"strings"
	"testing"
	"time"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
)

// threadJob is a post "one" with the thread parts "two", "three" and,
// if comment, a first comment "comment".
func threadJob(comment bool) *portalv1.PublishJob {
	j := job("agency_a", id.New("post"), 1, "one", "acct_1")
	j.Thread = []*portalv1.PostPart{{Text: "two"}, {Text: "three"}}
	if comment {
		j.FirstComment = &portalv1.PostPart{Text: "comment"}
	}
	return j
}

// byText indexes the network's calls by text.
func byText(calls []call) map[string][]call {
	out := map[string][]call{}
	for _, c := range calls {
		out[c.Text] = append(out[c.Text], c)
	}
	return out
}

func TestThreadPublishesInOrder(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := threadJob(true)
	tb.portal.set(j, true)
	tb.mustDue(t, j, time.Now())
	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	tb.drained(t)

	calls := tb.net.Calls()
	if len(calls) != 4 {
		t.Fatalf("network calls = %d, want 4", len(calls))
	}
	for i, want := range []string{"one", "two", "three", "comment"} {
		if calls[i].Text != want {
			t.Fatalf("call %d is %q, want %q (in order)", i, calls[i].Text, want)
		}
	}
	ids := map[string]string{}
	for _, c := range calls {
		ids[c.Text] = tb.net.statuses[c.Key].RemoteID
	}
	if c := calls[0]; c.ReplyTo != "" || c.Root != "" || c.AsComment {
		t.Errorf("the post replies to %q (root %q, comment %v), want nothing", c.ReplyTo, c.Root, c.AsComment)
	}
	if c := calls[1]; c.ReplyTo != ids["one"] || c.Root != "" || c.AsComment {
		t.Errorf("part 2 replies to %q (root %q), want %q", c.ReplyTo, c.Root, ids["one"])
	}
	if c := calls[2]; c.ReplyTo != ids["two"] || c.Root != ids["one"] {
		t.Errorf("part 3 replies to %q (root %q), want %q (root %q)", c.ReplyTo, c.Root, ids["two"], ids["one"])
	}
	if c := calls[3]; c.ReplyTo != ids["one"] || !c.AsComment {
		t.Errorf("the comment replies to %q (as comment: %v), want a comment on %q", c.ReplyTo, c.AsComment, ids["one"])
	}
	keys := map[string]bool{}
	for _, c := range calls {
		keys[c.Key] = true
	}
	if len(keys) != 4 {
		t.Errorf("%d distinct keys for 4 parts", len(keys))
	}
	if ev := tb.events.Published()[0]; ev.GetRemoteId() != ids["one"] {
		t.Errorf("post.published names %q, want the post %q", ev.GetRemoteId(), ids["one"])
	}
	atts := tb.attempts(t, "agency_a", j.GetPostId())
	if len(atts) != 1 || len(atts[0].GetParts()) != 4 || atts[0].GetParts()[3].GetRemoteId() != ids["comment"] {
		t.Errorf("attempt = %v, want its 4 parts listed", atts)
	}
}

func TestThreadResumesFromTheFailedPart(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{cfg: func(c *Config) { c.PollInterval = time.Hour }})
	j := threadJob(false)
	tb.portal.set(j, true)
	tb.net.scriptText("two", step{err: perr(provider.Retry, "the instance answered 503")})
	tb.mustDue(t, j, time.Now())

	atts := tb.attempts(t, "agency_a", j.GetPostId())
	if len(atts) != 1 || len(atts[0].GetParts()) != 1 || atts[0].GetParts()[0].GetIndex() != 0 ||
		!strings.Contains(atts[0].GetError(), "part 2 of 3") {
		t.Fatalf("after the failed part: %v; want part 1 listed and the error naming part 2", atts)
	}

	time.Sleep(200 * time.Millisecond) // past the backoff
	tb.retryNow(t)
	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	calls := byText(tb.net.Calls())
	if len(calls["one"]) != 1 || len(calls["two"]) != 2 || len(calls["three"]) != 1 {
		t.Fatalf("calls per part = one %d, two %d, three %d; want 1, 2 (the failed try and the next), 1",
			len(calls["one"]), len(calls["two"]), len(calls["three"]))
	}
	one := tb.net.statuses[calls["one"][0].Key].RemoteID
	if got := calls["two"][1].ReplyTo; got != one {
		t.Errorf("the resumed part replies to %q, want the part published before, %q", got, one)
	}
	if tb.net.Statuses() != 3 {
		t.Errorf("network holds %d posts, want 3", tb.net.Statuses())
	}
}

func TestThreadFailureMidwayIsVisible(t *testing.T) {
	t.Parallel()
	tb := setup(t, setupOptions{})
	j := threadJob(false)
	tb.portal.set(j, true)
	tb.net.scriptText("three", step{err: perr(provider.BadContent, "Validation failed: duplicate")})
	tb.mustDue(t, j, time.Now())
	eventually(t, "post.failed", func() bool { return len(tb.events.Failed()) == 1 })
	f := tb.events.Failed()[0]
	if f.GetKind() != kindBadContent || !strings.Contains(f.GetReason(), "part 3 of 3") || !strings.Contains(f.GetReason(), "published") {
		t.Errorf("post.failed %q (%s), want it to name part 3 and say the earlier ones are out", f.GetReason(), f.GetKind())
	}
	if atts := tb.attempts(t, "agency_a", j.GetPostId()); len(atts[0].GetParts()) != 2 {
		t.Errorf("parts listed = %v, want the 2 published", atts[0].GetParts())
	}
}

func TestThreadUnknownPartIsLookedUp(t *testing.T) {
	t.Parallel()
	tb, net := setupLooking(t)
	j := threadJob(false)
	tb.portal.set(j, true)
	tb.net.scriptText("two", step{err: perr(provider.Unknown, "timeout"), post: true})
	tb.mustDue(t, j, time.Now())
	eventually(t, "post.published", func() bool { return len(tb.events.Published()) == 1 })
	calls := byText(tb.net.Calls())
	if len(calls["one"]) != 1 || len(calls["two"]) != 1 || len(calls["three"]) != 1 {
		t.Fatalf("calls per part = one %d, two %d, three %d; want 1 each", len(calls["one"]), len(calls["two"]), len(calls["three"]))
	}
	if l := net.Lookups(); len(l) != 1 || l[0] != calls["two"][0].Key {
		t.Errorf("lookups = %v, want one for part 2's key %q", l, calls["two"][0].Key)
	}
	if got, want := calls["three"][0].ReplyTo, tb.net.statuses[calls["two"][0].Key].RemoteID; got != want {
		t.Errorf("part 3 replies to %q, want the part found by lookup, %q", got, want)
	}
}

// noThreads is the fake network without threads or comments.
type noThreads struct{ *fakeNetwork }

func (n noThreads) Limits() provider.Limits {
	l := n.fakeNetwork.Limits()
	l.Threads, l.FirstComment = false, false
	return l
}

func TestThreadOnANetworkWithoutThreadsFails(t *testing.T) {
	t.Parallel()
	net := newFakeNetwork("mastodon")
	tb := setup(t, setupOptions{net: net, providers: map[string]provider.Provider{"mastodon": noThreads{net}}})
	j := threadJob(false)
	tb.portal.set(j, true)
	tb.mustDue(t, j, time.Now())
	eventually(t, "post.failed", func() bool { return len(tb.events.Failed()) == 1 })
	if f := tb.events.Failed()[0]; f.GetKind() != kindBadContent || !strings.Contains(f.GetReason(), "threads") {
		t.Errorf("post.failed = %v", f)
	}
	if n := len(net.Calls()); n != 0 {
		t.Errorf("network calls = %d, want none", n)
	}
}

// A job's variant is what its network's accounts publish; other networks
// keep the post's own content.
func TestJobPartsTakeTheNetworksVariant(t *testing.T) {
	j := threadJob(true)
	j.Variants = map[string]*portalv1.Content{"x": {Text: "short for x", Thread: []*portalv1.PostPart{{Text: "x two"}}}}
	x := jobParts(j, "x")
	if len(x) != 2 || x[0].text != "short for x" || x[1].text != "x two" || x[1].comment {
		t.Fatalf("x parts = %+v, want the variant's post and one thread part, no comment", x)
	}
	m := jobParts(j, "mastodon")
	if len(m) != 4 || m[0].text != "one" || !m[3].comment || m[3].text != "comment" {
		t.Fatalf("mastodon parts = %+v, want the post's own four parts", m)
	}
}
