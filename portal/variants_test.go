package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/bluesky"
	"github.com/heraldhq/herald/provider/x"
)

// networkPublisher validates X and Bluesky content with those providers'
// own Validate and Limits, as Publisher does; other networks as
// fakePublisher.
type networkPublisher struct {
	*fakePublisher
	providers map[string]provider.Provider
}

func (n networkPublisher) Validate(ctx context.Context, req *publisherv1.ValidateRequest) (*publisherv1.ValidateResponse, error) {
	p, ok := n.providers[req.GetNetwork()]
	if !ok {
		return n.fakePublisher.Validate(ctx, req)
	}
	media := make([]provider.Media, len(req.GetMedia()))
	for i, m := range req.GetMedia() {
		media[i] = provider.Media{MimeType: m.GetMimeType(), Size: m.GetSizeBytes(), Description: m.GetDescription()}
	}
	res := &publisherv1.ValidateResponse{}
	for _, v := range p.Validate(req.GetText(), media) {
		res.Violations = append(res.Violations, &publisherv1.Violation{Field: v.Field, Message: v.Message})
	}
	lim := p.Limits()
	res.Limits = &publisherv1.NetworkLimits{MaxTextChars: int32(lim.MaxTextChars), MaxMedia: int32(lim.MaxMedia),
		Threads: lim.Threads, FirstComment: lim.FirstComment}
	return res, nil
}

// variantSetup is a workspace with accounts on mastodon (a.account), x and
// bluesky, validated by the real X and Bluesky rules.
func variantSetup(t *testing.T) (*bundle, *agency, map[string]string) {
	t.Helper()
	b := setup(t)
	b.svc.publisher = networkPublisher{fakePublisher: b.publisher,
		providers: map[string]provider.Provider{"x": x.New(nil), "bluesky": bluesky.New(nil)}}
	a := b.firstAgency(t)
	accts := map[string]string{"mastodon": a.account}
	for _, n := range []string{"x", "bluesky"} {
		aid := id.New("acct")
		// A copy of the Mastodon account on another network: the
		// credentials are never used, as nothing is published here.
		var instance, remote string
		if err := b.db.QueryRow(context.Background(), `SELECT instance_url, remote_id FROM portal_accounts WHERE id = ?`, a.account).
			Scan(&instance, &remote); err != nil {
			t.Fatal(err)
		}
		sealed := b.svc.keys.seal("token-"+n, tokenAAD(a.workspace, n, instance, remote))
		_, err := b.db.Exec(context.Background(), `INSERT INTO portal_accounts
			(id, agency_id, workspace_id, network, instance_url, remote_id, handle, display_name, profile_url, token_sealed, status, status_reason, created_at, updated_at)
			SELECT ?, agency_id, workspace_id, ?, instance_url, remote_id, handle, display_name, profile_url, ?, status, status_reason, created_at, updated_at
			FROM portal_accounts WHERE id = ?`, aid, n, sealed, a.account)
		if err != nil {
			t.Fatal(err)
		}
		accts[n] = aid
	}
	return b, a, accts
}

func TestVariantsRoundTripAndReachTheirNetworkOnly(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	ctx := context.Background()
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"
	// The post's own text is too long for X (300 characters, X allows
	// 280) but X gets its own.
	own := strings.Repeat("a", 290) + " https://shop.example/p?id=7#top"
	post := a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{
		"text": own, "account_ids": []string{accts["mastodon"], accts["x"], accts["bluesky"]}, "scheduled_at": future(),
		"first_comment": "more below",
		"variants": map[string]any{
			"x":       map[string]any{"text": "Short for X https://shop.example/p?id=7#top", "thread": []string{"x part two"}},
			"bluesky": map[string]any{"text": "For Bluesky", "first_comment": ""},
		},
		"utm": map[string]any{"medium": "social", "campaign": "launch"}})).json(t)
	got, _ := json.Marshal(post["variants"])
	if !strings.Contains(string(got), `"x":{"text":"Short for X`) || !strings.Contains(string(got), `"thread":["x part two"]`) ||
		!strings.Contains(string(got), `"bluesky":{"first_comment":"","text":"For Bluesky"}`) {
		t.Fatalf("variants = %s", got)
	}
	pid := post["id"].(string)
	// Read back as stored.
	again := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+pid, nil)).json(t)
	if g, _ := json.Marshal(again["variants"]); string(g) != string(got) {
		t.Fatalf("stored variants = %s, created %s", g, got)
	}
	if u, _ := again["utm"].(map[string]any); u["medium"] != "social" || u["campaign"] != "launch" {
		t.Fatalf("utm = %v", again["utm"])
	}

	res, err := b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: pid, Revision: 1})
	if err != nil || !res.GetPublishable() {
		t.Fatalf("GetPublishJob: %v, %v", res, err)
	}
	j := res.GetJob()
	if j.GetText() != own {
		t.Errorf("job text = %q, want the post's own", j.GetText())
	}
	vx, vb, vm := j.GetVariants()["x"], j.GetVariants()["bluesky"], j.GetVariants()["mastodon"]
	if vx.GetText() != "Short for X https://shop.example/p?id=7&utm_source=x&utm_medium=social&utm_campaign=launch#top" ||
		len(vx.GetThread()) != 1 || vx.GetThread()[0].GetText() != "x part two" || vx.GetFirstComment().GetText() != "more below" {
		t.Errorf("x variant = %v", vx)
	}
	if vb.GetText() != "For Bluesky" || vb.GetFirstComment() != nil {
		t.Errorf("bluesky variant = %v, want its own text and no first comment", vb)
	}
	// Mastodon has no variant, but its links are tagged for it.
	if !strings.HasSuffix(vm.GetText(), "https://shop.example/p?id=7&utm_source=mastodon&utm_medium=social&utm_campaign=launch#top") ||
		!strings.HasPrefix(vm.GetText(), "aaa") || vm.GetFirstComment().GetText() != "more below" {
		t.Errorf("mastodon content = %v", vm)
	}

	// Without its variant the post's own text is too long for Bluesky.
	f := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("PATCH", "/api/v1/posts/"+pid, map[string]any{
		"variants": map[string]any{}})).errorFields(t)
	if m, _ := f["text"].(string); !strings.Contains(m, "Bluesky allows 300") {
		t.Errorf("errors = %v, want text too long for Bluesky", f)
	}
	// Removing variants and tagging leaves the post's own content for all.
	a.owner.must(http.StatusOK, a.owner.do("PATCH", "/api/v1/posts/"+pid, map[string]any{
		"variants": map[string]any{}, "utm": map[string]any{"enabled": false}, "account_ids": []string{accts["mastodon"]}}))
	res, err = b.svc.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{TenantId: a.id, PostId: pid, Revision: 2})
	if err != nil || !res.GetPublishable() || len(res.GetJob().GetVariants()) != 0 || res.GetJob().GetText() != own {
		t.Fatalf("job after removing variants = %v, %v", res, err)
	}
}

func TestVariantFieldErrors(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	posts := "/api/v1/workspaces/" + a.workspace + "/posts"
	before := b.count(t, "portal_posts")
	bad := func(accounts []string, text string, variants map[string]any) map[string]any {
		t.Helper()
		return a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", posts, map[string]any{
			"text": text, "account_ids": accounts, "scheduled_at": future(), "variants": variants})).errorFields(t)
	}
	both := []string{accts["mastodon"], accts["x"]}
	// X counts a link as 23 and an emoji as 2: 130 emoji weigh 260, plus
	// the link 283 > 280; Mastodon (the fake's 500 runes) takes it.
	long := strings.Repeat("👍", 130) + " https://example.com/" + strings.Repeat("p", 40)
	f := bad(both, "fine", map[string]any{"x": map[string]any{"text": long}})
	if f["variants.x.text"] == nil || !strings.Contains(f["variants.x.text"].(string), "X allows 280") || f["text"] != nil {
		t.Errorf("errors = %v, want variants.x.text (X's own weighting)", f)
	}
	f = bad(both, "fine", map[string]any{"bluesky": map[string]any{"text": "hi"},
		"x": map[string]any{"media": []map[string]any{{"media_id": "media_nope"}}, "thread": []string{" "}}})
	if f["variants.bluesky"] == nil || f["variants.x.media[0]"] == nil || f["variants.x.thread[0]"] == nil {
		t.Errorf("errors = %v, want variants.bluesky (no account), variants.x.media[0], variants.x.thread[0]", f)
	}
	// The post's own text is checked where no variant replaces it.
	f = bad(both, long, map[string]any{"x": map[string]any{"first_comment": "c"}})
	if f["text"] == nil {
		t.Errorf("errors = %v, want text (too long for X, which has no text of its own)", f)
	}
	if n := b.count(t, "portal_posts"); n != before {
		t.Errorf("%d posts after refusals, want %d", n, before)
	}
	// The same long text is fine as X's own short variant replaces it.
	a.owner.must(http.StatusCreated, a.owner.do("POST", posts, map[string]any{
		"text": long, "account_ids": both, "draft": true, "variants": map[string]any{"x": map[string]any{"text": "short"}}}))
}

func TestComposeCheckCountsAsEachNetwork(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	c := a.browser(t, b)
	// A family emoji is one grapheme (Bluesky) but weighs 2 on X; a link
	// weighs 23 on X whatever its length.
	form := url.Values{"text": {"👨‍👩‍👧 https://example.com/" + strings.Repeat("q", 60)},
		"account_ids":          {accts["x"], accts["bluesky"]},
		"variant.bluesky.text": {"👨‍👩‍👧👨‍👩‍👧 ok"}, "csrf_token": {c.csrf()}}
	res := c.post("/workspaces/"+a.workspace+"/compose/check", form)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var got struct {
		Networks []composeNetwork `json:"networks"`
	}
	if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
		t.Fatal(err)
	}
	by := map[string]composeNetwork{}
	for _, n := range got.Networks {
		by[n.Network] = n
	}
	if n := by["x"]; n.Count != 2+1+23 || n.Limit != 280 || len(n.Errors) != 0 {
		t.Errorf("x = %+v, want count 26 of 280", n)
	}
	if n := by["bluesky"]; n.Count != 5 || n.Limit != 300 || n.Preview.Text != "👨‍👩‍👧👨‍👩‍👧 ok" {
		t.Errorf("bluesky = %+v, want its variant, 5 graphemes of 300", n)
	}
	if _, ok := by["mastodon"]; ok {
		t.Errorf("mastodon was not chosen: %+v", got.Networks)
	}
	// Too long for X: X's own message.
	form.Set("text", strings.Repeat("ab ", 100))
	res = c.post("/workspaces/"+a.workspace+"/compose/check", form)
	if !strings.Contains(res.Body, "X allows 280") {
		t.Errorf("check of a long text = %s", res.Body)
	}
}

func TestTagLinks(t *testing.T) {
	u := UTM{Enabled: true, Medium: "social", Campaign: "spring sale"}
	cases := []struct{ in, want string }{
		{"see https://a.example/x.", "see https://a.example/x?utm_source=x&utm_medium=social&utm_campaign=spring+sale."},
		{"https://a.example/p?id=1&b=2#frag", "https://a.example/p?id=1&b=2&utm_source=x&utm_medium=social&utm_campaign=spring+sale#frag"},
		{"(https://a.example/#top)", "(https://a.example/?utm_source=x&utm_medium=social&utm_campaign=spring+sale#top)"},
		// A parameter the link already has is kept.
		{"https://a.example/?utm_source=news", "https://a.example/?utm_source=news&utm_medium=social&utm_campaign=spring+sale"},
		{"no links here", "no links here"},
	}
	for _, c := range cases {
		if got := tagLinks(c.in, u, "x"); got != c.want {
			t.Errorf("tagLinks(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := tagLinks("https://a.example/", UTM{}, "x"); got != "https://a.example/" {
		t.Errorf("tagging off changed the link: %q", got)
	}
	if got := tagLinks("https://a.example/", UTM{Enabled: true, Source: "nl"}, "x"); got != "https://a.example/?utm_source=nl" {
		t.Errorf("own source: %q", got)
	}
}

// The composer works without JavaScript: its per-network fields are sent
// with the form, a refusal shows beside them, and the post card shows the
// variants it keeps.
func TestUIComposerVariants(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	c := a.browser(t, b)
	ws := "/workspaces/" + a.workspace
	page := c.must(http.StatusOK, c.get(ws)).Body
	if !strings.Contains(page, `name="variant.x.text"`) || !strings.Contains(page, `name="variant.bluesky.first_comment"`) || !strings.Contains(page, `name="utm"`) {
		t.Fatalf("composer has no per-network fields:\n%s", excerpt(page))
	}
	form := url.Values{"csrf_token": {c.csrf()}, "text": {"The post's own"}, "account_ids": {accts["x"], accts["mastodon"]},
		"when": {"draft"}, "variant.x.text": {strings.Repeat("ab ", 100)}}
	res := c.post(ws+"/posts", form)
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(text(res.Body), "X allows 280") {
		t.Fatalf("status %d, want the X variant refused:\n%s", res.Status, excerpt(text(res.Body)))
	}
	form.Set("variant.x.text", "Short for X")
	form.Set("variant.x.thread", "two\n---\nthree")
	c.must(http.StatusSeeOther, c.post(ws+"/posts", form))
	page = c.must(http.StatusOK, c.get(ws)).Body
	wantText(t, page, "Own version for X", "Short for X", "↳ two", "↳ three")
}

func (a *agency) createPostWith(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	return a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", body)).json(t)
}

// Variants sent again as they are stored are no change of content (an
// approval stands), however an empty thread was spelled.
func TestSameVariants(t *testing.T) {
	stored := map[string]Variant{"x": {Text: "t", HasThread: true}}
	sent := map[string]Variant{"x": {Text: "t", HasThread: true, Thread: []string{}}}
	if !sameVariants(stored, sent) || !sameVariants(nil, map[string]Variant{}) {
		t.Error("equal variants differ")
	}
	if sameVariants(stored, map[string]Variant{"x": {Text: "t"}}) || sameVariants(stored, nil) {
		t.Error("different variants are the same")
	}
}

// The review page counts what each account publishes: its network's
// variant, in the network's own unit, not the post's own text.
func TestUIReviewCountsEachNetworksVariant(t *testing.T) {
	t.Parallel()
	b, a, accts := variantSetup(t)
	a.setPolicy(t, PolicyClient)
	id := a.createPostWith(t, map[string]any{
		"text": "Own text", "account_ids": []string{accts["mastodon"], accts["x"], accts["bluesky"]}, "scheduled_at": future(),
		"variants": map[string]any{
			// X weighs the emoji 2; Bluesky counts each as one grapheme.
			"x":       map[string]any{"text": "Short for X 🥐"},
			"bluesky": map[string]any{"text": "Bluesky 🥐🥐"},
		}})["id"].(string)
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/posts/"+id+"/review")).Body
	wantText(t, page, "Where it goes", "8 characters", "14 characters of 280", "10 characters of 300")
}
