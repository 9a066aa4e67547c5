package linkedin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/provider"
)

func TestFirstComment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if !e.p.Limits().FirstComment || e.p.Limits().Threads {
		t.Fatalf("limits = %+v; want first comments and no threads", e.p.Limits())
	}
	post, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Launch day (at last)"})
	if err != nil {
		t.Fatal(err)
	}
	// The comment's text is plain: no escaping for the little format.
	c, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "Details: https://example.com (and more)", ReplyTo: &post, AsComment: true})
	if err != nil {
		t.Fatal(err)
	}
	withImage, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "and a picture", Media: []provider.Media{pngMedia(t, "")}, ReplyTo: &post, AsComment: true})
	if err != nil {
		t.Fatal(err)
	}
	posts := e.sim.LinkedIn().Posts()
	if len(posts) != 1 || len(posts[0].Comments) != 2 {
		t.Fatalf("server has %+v", posts)
	}
	got := posts[0].Comments
	if got[0].URN != c.RemoteID || got[0].Text != "Details: https://example.com (and more)" || got[0].Actor != e.acct.RemoteID ||
		got[1].URN != withImage.RemoteID || got[1].Image == "" {
		t.Errorf("comments = %+v; results %+v %+v", got, c, withImage)
	}
	if !strings.HasPrefix(c.RemoteID, "urn:li:comment:("+post.RemoteID+",") || !strings.Contains(c.RemoteURL, "commentUrn=") {
		t.Errorf("result = %+v", c)
	}
}

func TestFirstCommentRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	post, err := e.p.Publish(t.Context(), e.acct, provider.Post{Text: "a post"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: strings.Repeat("a", 1251), ReplyTo: &post, AsComment: true})
	wantKind(t, err, provider.BadContent)
	// A comment on a post that is gone: LinkedIn answers 404.
	if err := e.p.Delete(t.Context(), e.acct, post); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Publish(t.Context(), e.acct, provider.Post{Text: "too late", ReplyTo: &post, AsComment: true})
	if pe := wantKind(t, err, provider.BadContent); pe.Status != http.StatusNotFound {
		t.Errorf("error = %v", pe)
	}
	// Without the version header, the comments API refuses as the Posts
	// API does (simnet checks it on every /rest/ call).
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/linkedin/rest/socialActions/"+post.RemoteID+"/comments", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.acct.AccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("unversioned comment: %d", res.StatusCode)
	}
}
