package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/portal"
)

// The browser tests drive the web UI in headless Chromium, as a person
// would: they type into the forms, click the buttons and read the page.
//
// HERALD_TEST_CHROMIUM names the browser (default /usr/bin/chromium); the
// tests skip when it is missing, and fail under CI=true. When
// HERALD_TEST_SCREENSHOTS names a directory, they save a screenshot of
// every step there, to look at the pages; on failure they always save one
// (to HERALD_TEST_SCREENSHOTS or the test's temporary directory) and log the
// page's text.

// stepTimeout bounds one step in the browser (a page load, a form).
const stepTimeout = 15 * time.Second

// browser is one headless Chromium tab on a running Herald.
type browser struct {
	t   *testing.T
	ctx context.Context
	h   *herald
	// who names the person using this browser in file names ("" for the
	// test's first).
	who string
	// shots numbers the screenshots taken of steps, across the people of
	// one test.
	shots *int
}

// chromium returns the browser to drive, skipping (failing under CI) when
// there is none.
func chromium(t *testing.T) string {
	t.Helper()
	path := env("HERALD_TEST_CHROMIUM", "/usr/bin/chromium")
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s (set HERALD_TEST_CHROMIUM): %v", path, err)
		}
		t.Skipf("Chromium not found at %s; install it or set HERALD_TEST_CHROMIUM", path)
	}
	return path
}

// openBrowser starts a headless Chromium with a fresh profile for h.
func openBrowser(t *testing.T, h *herald) *browser {
	t.Helper()
	path := chromium(t)
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// Cleanups run last-registered first: the browser closes before its
	// profile directory is removed.
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelCtx)
	b := &browser{t: t, ctx: ctx, h: h, shots: new(int)}
	// The browser is started with the tab's own context, not one with a
	// deadline: the first run ties the browser's life to its context. A
	// browser that does not come up is given up on all the same.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting Chromium (%s): %v", path, err)
		}
	case <-time.After(30 * time.Second):
		cancelCtx()
		t.Fatalf("Chromium (%s) did not start within 30s", path)
	}
	t.Cleanup(b.onFailure)
	return b
}

// person opens another person's browser in the same Chromium: a separate
// browser context, with cookies of its own.
func (b *browser) person(who string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("opening another browser context: %v", err)
	}
	p := &browser{t: b.t, ctx: ctx, h: b.h, who: who, shots: b.shots}
	b.t.Cleanup(p.onFailure)
	return p
}

// onFailure keeps what the browser showed when the test failed.
func (b *browser) onFailure() {
	if !b.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		b.t.Logf("%sthe browser was at %s", b.prefix(), loc)
	}
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
		if len(text) > 4000 {
			text = text[:4000] + "…"
		}
		b.t.Logf("%sthe page said:\n%s", b.prefix(), text)
	}
	dir := os.Getenv("HERALD_TEST_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		file := filepath.Join(dir, sanitize(b.t.Name()+"-"+b.who)+"-failure.png")
		if err := os.WriteFile(file, png, 0o644); err == nil {
			b.t.Logf("screenshot of the failure: %s", file)
		}
	}
}

func (b *browser) prefix() string {
	if b.who == "" {
		return ""
	}
	return b.who + ": "
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func sanitize(name string) string { return unsafeName.ReplaceAllString(name, "_") }

// shot saves a screenshot of the step when HERALD_TEST_SCREENSHOTS is set.
func (b *browser) shot(step string) {
	b.t.Helper()
	dir := os.Getenv("HERALD_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	*b.shots++
	// A full-page screenshot of a scrolled page draws the sticky top bar
	// in the middle of it.
	b.do("scrolling to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	png := run(b, "screenshot "+step, chromedp.FullScreenshot(100))
	file := filepath.Join(dir, sanitize(b.t.Name())+"-"+strconv.Itoa(*b.shots)+"-"+sanitize(strings.TrimSpace(b.who+" "+step))+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// do runs steps that return nothing, failing the test with what was being
// done.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// run runs one step that returns a value.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open loads a page of Herald and waits for an element of it.
func (b *browser) open(path, waitFor string) {
	b.t.Helper()
	b.do("opening "+path, chromedp.Navigate(b.h.URL+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

// submit clicks a form's button and waits until the page the form leads to
// has loaded and shows waitFor. The old page is marked first, so an element
// it also had cannot be mistaken for the new page's.
func (b *browser) submit(button, waitFor string) {
	b.t.Helper()
	b.do("submitting with "+button,
		chromedp.Evaluate[chromedp.Void](`document.documentElement.setAttribute("data-stale", "1")`),
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitReady(chromedp.CSS("html:not([data-stale])")),
		chromedp.WaitVisible(chromedp.CSS(waitFor)),
	)
}

// text is the text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "reading "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// count is how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return run(b, "counting "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
}

// wait polls a JavaScript condition until it holds, for at most d.
func (b *browser) wait(what, cond string, d time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestBrowserJourney goes from a fresh Herald to a published post in the
// browser: first-run setup, a workspace in its own zone, an account on the
// simulated network, an image, a post scheduled seconds ahead in the
// workspace's local time, and the page showing it published, live, with
// the bell counting the notification.
func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	chromium(t)
	h := startHerald(t, config.TransportLocal)
	b := openBrowser(t, h)
	const password = "correct horse battery"

	// First run: the setup form, which signs the owner in.
	b.open("/", "#setup-form")
	b.shot("setup")
	b.do("filling the setup form",
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=agency_name]`), "Acme Social"),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=name]`), "Ada Owner"),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=email]`), uniqueEmail("ada")),
		chromedp.SendKeys(chromedp.CSS(`#setup-form input[name=password]`), password),
	)
	b.submit(`#setup-form button[type=submit]`, "#workspace-form")
	if got := b.text("#agency-name"); got != "Acme Social" {
		t.Errorf("top bar shows agency %q, want Acme Social", got)
	}
	if got := b.text("#current-user .user-name"); got != "Ada Owner" {
		t.Errorf("top bar shows user %q, want Ada Owner", got)
	}
	b.shot("dashboard empty")

	// A workspace in Paris time.
	b.do("filling the workspace form",
		chromedp.SendKeys(chromedp.CSS(`#workspace-form input[name=name]`), "Bistro Paris"),
		chromedp.SetValue(chromedp.CSS(`#workspace-form select[name=timezone]`), "Europe/Paris"),
	)
	b.submit(`#workspace-form button[type=submit]`, "#compose-form")
	workspaceURL := run(b, "reading the address", chromedp.Location())
	if got := b.text("#workspace-zone"); got != "Europe/Paris" {
		t.Fatalf("workspace zone shown as %q, want Europe/Paris", got)
	}
	if !strings.Contains(b.text("#flash"), "created") {
		t.Errorf("no success message after creating the workspace: %q", b.text("#flash"))
	}

	// The simulated network's account, connected with its token.
	token := h.Sim.CreateAccount("bistro")
	b.do("filling the account form",
		chromedp.SendKeys(chromedp.CSS(`#account-form input[name=instance_url]`), h.SimURL),
		chromedp.SendKeys(chromedp.CSS(`#account-form input[name=access_token]`), token),
	)
	b.submit(`#account-form button[value=token]`, "#account-list [data-account-id]")
	if got := b.text("#account-list [data-account-id]"); !strings.Contains(got, "bistro") {
		t.Errorf("connected account shown as %q, want it to name bistro", got)
	}

	// An image from the disk.
	img := filepath.Join(t.TempDir(), "croissant.png")
	if err := os.WriteFile(img, pngImage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("choosing the image", chromedp.SetUploadFiles(chromedp.CSS(`#media-form input[type=file]`), []string{img}))
	b.submit(`#media-form button[type=submit]`, "#media-list [data-media-id]")
	// A teammate: the invitation link is shown once, and opening it in
	// another browser makes them a manager of the workspace.
	mateEmail := uniqueEmail("max")
	b.do("filling the invitation form",
		chromedp.SendKeys(chromedp.CSS(`#invite-form input[name=email]`), mateEmail),
		chromedp.SetValue(chromedp.CSS(`#invite-form select[name=role]`), "manager"),
	)
	b.submit(`#invite-form button[type=submit]`, "#flash-secret")
	link := run(b, "reading the invitation link", chromedp.Value(chromedp.CSS("#flash-secret")))
	if !strings.HasPrefix(link, h.URL+"/invites/") {
		t.Fatalf("invitation link %q is not a link to this Herald's invitations", link)
	}
	b.shot("invited")
	mate := b.person("mate")
	mate.open(strings.TrimPrefix(link, h.URL), "#accept-form")
	mate.shot("invitation")
	mate.do("accepting the invitation",
		chromedp.SendKeys(chromedp.CSS(`#accept-form input[name=name]`), "Max Manager"),
		chromedp.SendKeys(chromedp.CSS(`#accept-form input[name=password]`), password),
	)
	mate.submit(`#accept-form button[type=submit]`, "#workspaces [data-workspace-id]")
	if got := mate.text("#workspaces [data-workspace-id] .pill"); got != "Manager" {
		t.Errorf("the teammate's role shows as %q, want Manager", got)
	}
	mate.open(strings.TrimPrefix(workspaceURL, h.URL), "#compose-form")
	if n := mate.count("#invite-form"); n != 0 {
		t.Errorf("a manager is offered the invitation form")
	}
	mate.shot("teammate")

	b.wait("the thumbnail to load", `(() => { const i = document.querySelector("#media-list img"); return i && i.complete && i.naturalWidth === 32; })()`, 10*time.Second)

	// The post: text, the account, the image, a local time a few seconds
	// ahead in Paris. datetime-local takes "YYYY-MM-DDTHH:MM:SS".
	text := "Fresh croissants at 7, see you there! 🥐 https://bistro.example/menu"
	b.do("composing",
		chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=text]`), text),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=account_ids]`)),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=media_ids]`)),
	)
	// The counter counts as Mastodon does: the emoji is one character and
	// the link 23, whatever its length.
	want := strconv.Itoa(len([]rune("Fresh croissants at 7, see you there! 🥐 "))+23) + " / 500"
	if got := b.text("#compose-count"); got != want {
		t.Errorf("character counter shows %q, want %q", got, want)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(5 * time.Second).In(paris).Truncate(time.Second)
	b.do("setting the time", chromedp.SetValue(chromedp.CSS(`#compose-form input[name=scheduled_at]`), due.Format("2006-01-02T15:04:05")))
	b.shot("composed")
	b.submit(`#compose-form button[type=submit]`, "#posts [data-post-id]")
	if msg := b.text("#flash"); !strings.Contains(msg, "scheduled") || !strings.Contains(msg, "Europe/Paris") {
		t.Errorf("after scheduling, the message says %q", msg)
	}
	postID := run(b, "reading the post id", chromedp.AttributeValue(chromedp.CSS("#posts [data-post-id]"), "data-post-id")).Value
	post := `#posts [data-post-id="` + postID + `"]`
	if got := run(b, "reading the status", chromedp.AttributeValue(chromedp.CSS(post), "data-status")).Value; got != portal.PostScheduled && got != portal.PostPublishing {
		t.Errorf("a new post shows status %q", got)
	}
	if got := b.text(post + " .post-text"); got != text {
		t.Errorf("post text shown as %q, want %q", got, text)
	}
	b.shot("scheduled")

	// Published on time, and the page shows it without being reloaded.
	b.wait("the post to show as published", `!!document.querySelector('`+post+`[data-status="published"] a.remote-url')`, 25*time.Second)
	href := run(b, "reading the remote link", chromedp.AttributeValue(chromedp.CSS(post+" a.remote-url"), "href")).Value
	if !strings.HasPrefix(href, h.SimURL+"/") {
		t.Errorf("the published post links to %q, not to the network at %s", href, h.SimURL)
	}
	statuses := h.Sim.Statuses()
	if len(statuses) != 1 || len(statuses[0].MediaIDs) != 1 {
		t.Fatalf("the network holds %+v, want one status with one image", statuses)
	}
	if statuses[0].CreatedAt.Before(due) {
		t.Errorf("published at %s, before its time %s", statuses[0].CreatedAt, due)
	}
	b.wait("the bell to count the notification", `Number(document.querySelector("#notification-count").textContent) >= 1`, 15*time.Second)
	b.shot("published")

	// The inbox lists it; marking all read empties the bell.
	b.open("/notifications", "#notifications [data-notification-id]")
	if got := b.text("#notifications [data-notification-id] .notif-title"); !strings.Contains(got, "published") {
		t.Errorf("first notification reads %q", got)
	}
	b.shot("notifications")
	b.submit(`#mark-read-form button[type=submit]`, "#flash")
	if got := b.text("#notification-count"); got != "0" {
		t.Errorf("bell shows %q after marking all read", got)
	}

	// Signing out ends the session: the workspace page asks to sign in.
	b.submit(`.logout-form button[type=submit]`, "#login-form")
	b.open("/notifications", "#login-form")
}

// TestBrowserRefusesBadInput signs in through the browser and sends forms
// the domain refuses: each problem shows beside its field, what was typed
// stays, and nothing is created.
func TestBrowserRefusesBadInput(t *testing.T) {
	t.Parallel()
	chromium(t)
	h := startHerald(t, config.TransportLocal)

	// The agency, a workspace and an account exist already (made through
	// the API); the browser only signs in.
	api := h.newClient()
	email := uniqueEmail("owner")
	const password = "correct horse battery"
	api.call("POST", "/api/v1/setup", obj{"agency_name": "Acme Social", "name": "Ada Owner", "email": email, "password": password}, 201)
	api.login(email, password)
	wsID := str(api.call("POST", "/api/v1/workspaces", obj{"name": "Bistro Paris", "timezone": "Europe/Paris"}, 201), "id")
	api.call("POST", "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": h.Sim.CreateAccount("bistro")}, 201)

	b := openBrowser(t, h)

	// A wrong password: the message, the email kept, no session.
	b.open("/", "#login-form")
	b.do("typing a wrong password",
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), "not the password"),
	)
	b.submit(`#login-form button[type=submit]`, "#login-form .form-error")
	if got := b.text("#login-form .form-error"); !strings.Contains(got, "wrong") {
		t.Errorf("wrong password says %q", got)
	}
	if got := run(b, "reading the email", chromedp.Value(chromedp.CSS(`#login-form input[name=email]`))); got != email {
		t.Errorf("email after a refused sign-in is %q, want %q", got, email)
	}
	b.shot("wrong password")
	b.do("typing the password", chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password))
	b.submit(`#login-form button[type=submit]`, "#workspaces")

	// A workspace that is not there (or not theirs) is a page that says so.
	b.open("/workspaces/ws_01jd0000000000000000000000", "#error-page")
	if got := b.text("#error-page h1"); got != "Not found" {
		t.Errorf("a missing workspace's page says %q", got)
	}
	b.shot("not found")

	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		text  string
		at    string
		field string // the input whose error is shown
		want  string // in the message
	}{
		{"over-long text", strings.Repeat("a", 480), time.Now().In(paris).Add(time.Hour).Format("2006-01-02T15:04"), "text", "500"},
		{"past time", "Yesterday's news", time.Now().In(paris).Add(-time.Hour).Format("2006-01-02T15:04"), "scheduled_at", "in the past"},
		{"time skipped by the clocks", "Spring forward", "2027-03-28T02:30", "scheduled_at", "does not exist"},
	} {
		b.open("/workspaces/"+wsID, "#compose-form")
		b.do(tc.name+": composing",
			chromedp.SetValue(chromedp.CSS(`#compose-form textarea[name=text]`), tc.text),
			chromedp.Click(chromedp.CSS(`#compose-form input[name=account_ids]`)),
			chromedp.SetValue(chromedp.CSS(`#compose-form input[name=scheduled_at]`), tc.at),
		)
		typed := tc.text
		if tc.field == "text" {
			// Typing past the limit turns the counter red before sending.
			more := strings.Repeat("b", 25)
			b.do(tc.name+": typing past the limit",
				chromedp.Evaluate[chromedp.Void](`(() => { const t = document.querySelector("#compose-form textarea[name=text]"); t.focus(); t.setSelectionRange(t.value.length, t.value.length); })()`),
				chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=text]`), more))
			typed += more
			if n := b.count("#compose-count.over"); n != 1 {
				t.Errorf("%s: the counter %q is not marked over the limit", tc.name, b.text("#compose-count"))
			}
		}
		b.submit(`#compose-form button[type=submit]`, "#compose-form .field-error")
		msg := b.text(`#compose-form [name=` + tc.field + `] ~ .field-error`)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: the message beside %s says %q, want it to mention %q", tc.name, tc.field, msg, tc.want)
		}
		if got := run(b, tc.name+": reading the text", chromedp.Value(chromedp.CSS(`#compose-form textarea[name=text]`))); got != typed {
			t.Errorf("%s: the text was not kept: %d characters, want %d", tc.name, len(got), len(typed))
		}
		if n := b.count(`#compose-form input[name=account_ids]:checked`); n != 1 {
			t.Errorf("%s: the chosen account was not kept checked", tc.name)
		}
		if n := b.count("#posts [data-post-id]"); n != 0 {
			t.Errorf("%s: the page lists %d posts", tc.name, n)
		}
		b.shot(tc.name)
	}
	if posts := items(api.call("GET", "/api/v1/workspaces/"+wsID+"/posts", nil, 200), "posts"); len(posts) != 0 {
		t.Errorf("refused forms created %d posts", len(posts))
	}

	// A workspace without a name or a zone that exists: both fields say so.
	b.open("/", "#workspace-form")
	b.do("choosing no zone", chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.querySelector("#workspace-form select[name=timezone]"); s.add(new Option("Mars", "Mars/Olympus")); s.value = "Mars/Olympus"; })()`))
	b.submit(`#workspace-form button[type=submit]`, "#workspace-form .field-error")
	if got := b.text(`#workspace-form .has-error input[name=name] ~ .field-error`); !strings.Contains(got, "required") {
		t.Errorf("nameless workspace says %q", got)
	}
	if got := b.text(`#workspace-form .has-error select[name=timezone] ~ .field-error`); !strings.Contains(got, "time zone") {
		t.Errorf("unknown zone says %q", got)
	}
	if n := b.count("#workspaces [data-workspace-id]"); n != 1 {
		t.Errorf("dashboard lists %d workspaces after a refused form, want 1", n)
	}
	b.shot("bad workspace")
}
