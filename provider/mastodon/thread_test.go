package mastodon_test

import (
	"testing"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/simnet"
)

// TestPublishThread: a thread's parts and a first comment are replies to
// the status before them; a reply to a status the instance no longer has
// is bad content, not a disconnected account.
func TestPublishThread(t *testing.T) {
	t.Parallel()
	e := setup(t, simnet.Options{})
	if l := e.p.Limits(); !l.Threads || !l.FirstComment {
		t.Fatalf("limits %+v: want threads and first comments", l)
	}
	first, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "1/2 launch day", IdempotencyKey: "k0"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "2/2 details", IdempotencyKey: "k1", ReplyTo: &first})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]simnet.Status{}
	for _, st := range e.sim.Statuses() {
		byID[st.ID] = st
	}
	if byID[first.RemoteID].InReplyToID != "" || byID[second.RemoteID].InReplyToID != first.RemoteID {
		t.Errorf("statuses %+v: want the second replying to the first", byID)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "orphan", IdempotencyKey: "k2", ReplyTo: &provider.Result{RemoteID: "999"}})
	if pe := asProviderError(t, err); pe.Kind != provider.BadContent {
		t.Errorf("a reply to a gone status: %v, want bad content", pe)
	}
}
