package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/config"
)

// TestAutomationDraftToPublished: through the real binary, a feed's newest
// item becomes a draft from the automation's template, once; approved
// (published now), it goes out on the network.
func TestAutomationDraftToPublished(t *testing.T) {
	t.Parallel()
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Bistro</title><id>urn:bistro</id><updated>2026-12-01T10:00:00Z</updated>
<entry><id>urn:bistro:2</id><title>Truffle week</title><link href="https://bistro.example/truffles"/><updated>2026-12-01T10:00:00Z</updated><summary>All week long.</summary></entry>
<entry><id>urn:bistro:1</id><title>Older</title><link href="https://bistro.example/older"/><updated>2026-11-01T10:00:00Z</updated></entry>
</feed>`)
	}))
	t.Cleanup(feed.Close)
	h := startHerald(t, config.TransportLocal)
	c, wsID, acctID := agencyWithAccount(t, h, "automated")

	auto := c.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/automations", obj{"name": "Blog", "feed_url": feed.URL + "/atom.xml",
		"backfill": 1, "template": "{{.title}}: {{.summary}} {{.link}}", "account_ids": []string{acctID}, "action": "draft"}, http.StatusCreated)
	var drafts []obj
	eventually(t, "the newest item to become a draft", func() bool {
		drafts = items(c.call(http.MethodGet, "/api/v1/workspaces/"+wsID+"/posts?status=draft", nil, http.StatusOK), "posts")
		return len(drafts) > 0
	})
	const text = "Truffle week: All week long. https://bistro.example/truffles"
	if len(drafts) != 1 || str(drafts[0], "text") != text {
		t.Fatalf("drafts = %v", drafts)
	}
	got := c.call(http.MethodGet, "/api/v1/automations/"+str(auto, "id"), nil, http.StatusOK)
	if its := items(got, "items"); len(its) != 1 || str(its[0], "outcome") != "draft" || str(got, "feed", "health") != "ok" {
		t.Fatalf("automation = %v", got)
	}

	id := str(drafts[0], "id")
	c.call(http.MethodPatch, "/api/v1/posts/"+id, obj{"publish_now": true}, http.StatusOK)
	eventually(t, "the approved draft to be published", func() bool {
		return str(c.call(http.MethodGet, "/api/v1/posts/"+id, nil, http.StatusOK), "status") == "published"
	})
	if n := h.statusesOf("automated", text); n != 1 {
		t.Fatalf("the network holds %d posts, want 1", n)
	}
}
