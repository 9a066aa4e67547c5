package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/portal"
)

// TestBrowserDailyFlow is an agency's everyday round in the browser, from
// a fresh Herald to a post on two networks: the owner sets the workspace to
// ask the client before anything is scheduled, connects a Mastodon and a
// Bluesky account (both on simnet), uploads an image, writes a post with a
// text of its own for each network and schedules it a few minutes ahead;
// it waits for approval until the client, holding only a review link in a
// browser with no session, approves it. The owner then finds it on the
// calendar, drags it to a later day, and finally has it published at once
// from its edit page: each network gets its own text with the image.
func TestBrowserDailyFlow(t *testing.T) {
	t.Parallel()
	chromium(t)
	h := startHerald(t, config.TransportLocal)
	b := openBrowser(t, h)
	const password = "correct horse battery"

	// First run: the setup form signs the owner in.
	b.open("/", "#setup-form")
	b.do("filling the setup form",
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=agency_name]`), "Acme Social"),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=name]`), "Ada Owner"),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=email]`), uniqueEmail("daily")),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=password]`), password),
	)
	b.submit(`#setup-form button[type=submit]`, "#workspace-form")
	b.do("filling the workspace form",
		chromedp.SendKeys(chromedp.CSS(`#workspace-form input[name=name]`), "Bistro Paris"),
		chromedp.SetValue(chromedp.CSS(`#workspace-form select[name=timezone]`), "Europe/Paris"),
	)
	b.submit(`#workspace-form button[type=submit]`, "#compose-form")
	wsPath := strings.TrimPrefix(run(b, "reading the address", chromedp.Location()), h.URL)
	wsID := strings.TrimPrefix(wsPath, "/workspaces/")

	// The client approves every post: set on the workspace's approvals page.
	b.open(wsPath+"/approvals", "#policy-form")
	b.do("choosing the client policy", chromedp.SetValue(chromedp.CSS(`#policy-select`), portal.PolicyClient))
	b.submit(`#policy-form button[type=submit]`, "#approval-policy")
	if got := b.text("#approval-policy"); !strings.Contains(got, "Client") {
		t.Fatalf("after saving the policy the page says %q", got)
	}
	b.shot("client policy")

	// Two accounts on two networks: Mastodon with a token, Bluesky with an
	// app password on its own server (simnet's PDS).
	b.open(wsPath, "#account-form")
	b.do("filling the Mastodon form",
		chromedp.SendKeys(chromedp.CSS(`#account-form input[name=instance_url]`), h.SimURL),
		chromedp.SendKeys(chromedp.CSS(`#account-form input[name=access_token]`), h.Sim.CreateAccount("bistro")),
	)
	b.submit(`#account-form button[value=token]`, "#account-list [data-account-id]")
	const bskyHandle, bskyPassword = "bistro.test", "abcd-efgh-ijkl-mnop"
	h.Sim.CreateBlueskyAccount(bskyHandle, bskyPassword)
	b.do("opening the Bluesky form", chromedp.Click(chromedp.CSS(`#connect-bluesky summary`)))
	b.do("filling the Bluesky form",
		chromedp.SendKeys(chromedp.CSS(`#connect-bluesky input[name=handle]`), bskyHandle),
		chromedp.SendKeys(chromedp.CSS(`#connect-bluesky input[name=app_password]`), bskyPassword),
		chromedp.SendKeys(chromedp.CSS(`#connect-bluesky input[name=pds_url]`), h.SimURL),
	)
	b.submit(`#connect-bluesky button[type=submit]`, "#account-list [data-account-id]")
	if n := b.count("#account-list [data-account-id]"); n != 2 {
		t.Fatalf("the workspace lists %d accounts, want the Mastodon and the Bluesky one", n)
	}
	if got := b.text("#account-list"); !strings.Contains(got, "Bluesky") || !strings.Contains(got, "Mastodon") {
		t.Errorf("the accounts are listed as %q", got)
	}
	// A Bluesky handle is whole: no server after it, as a Mastodon one has.
	if n := run(b, "finding the Bluesky handle", chromedp.Evaluate[int](`[...document.querySelectorAll("#account-list .row-text > :first-child")].filter(e => e.textContent.trim() === "@`+bskyHandle+`").length`)); n != 1 {
		t.Errorf("the Bluesky account is not shown as @%s: %q", bskyHandle, b.text("#account-list"))
	}

	// The image, uploaded on the workspace page (the composer picks from
	// the workspace's media; it has no file input of its own).
	img := filepath.Join(t.TempDir(), "croissant.png")
	if err := os.WriteFile(img, pngImage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("choosing the image", chromedp.SetUploadFiles(chromedp.CSS(`#media-form input[type=file]`), []string{img}))
	b.do("describing the image", chromedp.SendKeys(chromedp.CSS(`#media-form input[name=description]`), "A croissant"))
	b.submit(`#media-form button[type=submit]`, "#compose-form input[name=media_ids]")
	b.shot("accounts and image")

	// The post: one text, both accounts, the image, and a variant per
	// network whose count the page shows as it is typed.
	const text = "Fresh croissants at 7, see you there!"
	variants := map[string]string{
		"mastodon": "Fresh croissants at 7 on Rue Cler, butter from Normandy, see you there! #bakery",
		"bluesky":  "Croissants at 7, still warm. Come early!",
	}
	limits := map[string]int{"mastodon": 500, "bluesky": 300}
	b.do("composing",
		chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=text]`), text),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#compose-form input[name=account_ids]").forEach(c => { if (!c.checked) c.click(); })`),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=media_ids]`)),
	)
	for _, n := range []string{"mastodon", "bluesky"} {
		b.wait("the "+n+" section to show", `(() => { const d = document.querySelector("#variant-`+n+`"); return d && !d.hidden; })()`, stepTimeout)
		b.do("writing the "+n+" variant",
			chromedp.Click(chromedp.CSS(`#variant-`+n+` summary`)),
			chromedp.SendKeys(chromedp.CSS(`#variant-`+n+`-text`), variants[n]),
		)
	}
	for n, v := range variants {
		// Plain ASCII without links: every network counts a character as
		// one.
		want := strconv.Itoa(len(v)) + " / " + strconv.Itoa(limits[n])
		sel := `#compose-variants [data-count-for="` + n + `"]`
		b.wait(n+"'s count "+want, `document.querySelector(`+strconv.Quote(sel)+`).textContent === `+strconv.Quote(want), stepTimeout)
		b.wait(n+"'s preview", `document.querySelector('[data-preview-for="`+n+`"] .preview-text').textContent === `+strconv.Quote(v), stepTimeout)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().In(paris).Add(10 * time.Minute).Truncate(time.Minute)
	b.do("setting the time", chromedp.SetValue(chromedp.CSS(`#compose-form input[name=scheduled_at]`), due.Format("2006-01-02T15:04")))
	b.shot("composed")
	b.submit(`#compose-form button[type=submit]`, "#posts [data-post-id]")
	if msg := b.text("#flash"); !strings.Contains(msg, "Sent for approval") {
		t.Errorf("after scheduling under the client policy, the message says %q", msg)
	}
	postID := run(b, "reading the post id", chromedp.AttributeValue(chromedp.CSS("#posts [data-post-id]"), "data-post-id")).Value
	post := `#posts [data-post-id="` + postID + `"]`
	if got := run(b, "reading the status", chromedp.AttributeValue(chromedp.CSS(post), "data-status")).Value; got != portal.PostPendingApproval {
		t.Fatalf("the new post shows status %q, want %s", got, portal.PostPendingApproval)
	}
	for n, v := range variants {
		if got := b.text(post + ` .post-variant[data-network="` + n + `"] .post-text`); got != v {
			t.Errorf("the post lists its %s text as %q, want %q", n, got, v)
		}
	}
	b.shot("pending approval")

	// A review link, made on the approvals page, which lists the post.
	b.open(wsPath+"/approvals", `#awaiting-list [data-post-id="`+postID+`"]`)
	b.do("naming the link", chromedp.SendKeys(chromedp.CSS(`#review-link-form input[name=label]`), "Claire at the bistro"))
	b.submit(`#review-link-form button[type=submit]`, "#flash-secret")
	link := run(b, "reading the review link", chromedp.Value(chromedp.CSS("#flash-secret")))
	if !strings.HasPrefix(link, h.URL+"/review/") {
		t.Fatalf("review link %q is not a link to this Herald's review pages", link)
	}

	// The client: a browser of their own, signed in to nothing.
	client := b.person("client")
	client.open(wsPath, "#login-form")
	client.open(strings.TrimPrefix(link, h.URL), "#review-signin-form")
	client.do("giving a name", chromedp.SendKeys(chromedp.CSS(`#review-signin-form input[name=name]`), "Claire Client"))
	client.submit(`#review-signin-form button[type=submit]`, `#review-list-`+wsID+` [data-post-id="`+postID+`"]`)
	client.submit(`#review-list-`+wsID+` [data-post-id="`+postID+`"] a`, "#review-post")
	for n, v := range variants {
		if got := client.text(`#review-post .post-variant[data-network="` + n + `"] .post-text`); got != v {
			t.Errorf("the client sees the %s text as %q, want %q", n, got, v)
		}
	}
	// Where it goes counts what each network gets: its own text.
	previews := client.text("#review-previews")
	for n, v := range variants {
		if want := strconv.Itoa(len(v)) + " characters of " + strconv.Itoa(limits[n]); !strings.Contains(previews, want) {
			t.Errorf("the client's list of where it goes says %q, want %q for %s", previews, want, n)
		}
	}
	if n := client.count("#review-media img"); n != 1 {
		t.Errorf("the client sees %d images, want 1", n)
	}
	client.shot("review")
	client.submit(`#approve-form button[type=submit]`, "#flash")
	if msg := client.text("#flash"); !strings.Contains(msg, "Approved. It is scheduled") {
		t.Fatalf("after approving, the client is told %q", msg)
	}
	client.shot("approved")

	// The calendar: from the workspace page, then the month of the post.
	b.open(wsPath, "#calendar-link")
	b.submit("#calendar-link", "#calendar")
	day := due.Format(time.DateOnly)
	chip := `td[data-date="` + day + `"] .cal-chip[data-post-id="` + postID + `"]`
	b.open(wsPath+"/calendar?view=month&date="+day, chip)
	if got := run(b, "reading the chip's status", chromedp.AttributeValue(chromedp.CSS(chip), "data-status")).Value; got != portal.PostScheduled {
		t.Errorf("the approved post's chip shows status %q, want %s", got, portal.PostScheduled)
	}
	if got := b.text(chip + " .cal-time"); got != due.Format("15:04") {
		t.Errorf("the chip shows %q, want %s", got, due.Format("15:04"))
	}
	// The next day, which the month's grid shows unless the post's day is
	// its last cell (the last day of a month ending a week).
	target := due.AddDate(0, 0, 1).Format(time.DateOnly)
	if b.count(`td[data-date="`+target+`"]`) == 0 {
		t.Skipf("the calendar's month of %s does not show %s: no later day to drag to", day, target)
	}
	b.shot("calendar before the drag")
	if !run(b, "dragging the chip", chromedp.Evaluate[bool](dragJS(chip, `td[data-date="`+target+`"]`))) {
		t.Fatal("the chip or the target day is not on the page")
	}
	b.wait("the move to be confirmed", `document.querySelector("#calendar-status.is-ok") !== null`, stepTimeout)
	if msg := b.text("#calendar-status"); !strings.Contains(msg, "Moved to") || !strings.Contains(msg, "at "+due.Format("15:04")) {
		t.Errorf("the confirmation says %q", msg)
	}
	moved := `td[data-date="` + target + `"] .cal-chip[data-post-id="` + postID + `"]`
	b.open(wsPath+"/calendar?view=month&date="+day, moved)
	if got := run(b, "reading the moved chip's status", chromedp.AttributeValue(chromedp.CSS(moved), "data-status")).Value; got != portal.PostScheduled {
		t.Errorf("after the move the chip shows status %q: moving an approved post should not ask again", got)
	}
	b.shot("calendar after the drag")

	// Then out at once: the chip leads to the edit page, which offers
	// "Publish now"; a new time keeps the client's approval.
	b.submit(moved, "#compose-form")
	b.do("choosing Publish now", chromedp.Click(chromedp.CSS(`#compose-form input[name=when][value=now]`)))
	b.submit(`#compose-form button[type=submit]`, post)

	// The post's page (its place in the workspace's list) shows both
	// targets published, live.
	b.open(wsPath+"/posts/"+postID, post)
	b.wait("the post to show as published on both networks",
		`document.querySelectorAll('`+post+`[data-status="published"] .target-published a.remote-url').length === 2`, waitFor)
	b.shot("published")

	statuses := h.Sim.Statuses()
	if len(statuses) != 1 {
		t.Fatalf("Mastodon holds %d statuses, want 1: %+v", len(statuses), statuses)
	}
	if statuses[0].Text != variants["mastodon"] || len(statuses[0].MediaIDs) != 1 {
		t.Errorf("Mastodon holds %q with %d images, want %q with 1", statuses[0].Text, len(statuses[0].MediaIDs), variants["mastodon"])
	}
	posts := h.Sim.BlueskyPosts()
	if len(posts) != 1 {
		t.Fatalf("Bluesky holds %d posts, want 1: %+v", len(posts), posts)
	}
	var record struct {
		Embed struct {
			Type   string `json:"$type"`
			Images []struct {
				Alt string `json:"alt"`
			} `json:"images"`
		} `json:"embed"`
	}
	if err := json.Unmarshal(posts[0].Record, &record); err != nil {
		t.Fatalf("the Bluesky record %s: %v", posts[0].Record, err)
	}
	if posts[0].Text != variants["bluesky"] || len(record.Embed.Images) != 1 {
		t.Errorf("Bluesky holds %q with %d images (%s), want %q with 1", posts[0].Text, len(record.Embed.Images), posts[0].Record, variants["bluesky"])
	}
}
