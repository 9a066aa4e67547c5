package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/config"
)

// TestBrowserRepeatsAndQueues drives the composer's schedule choices in a
// real browser: the repeat and queue inputs show only with their choice, a
// weekly repeat on chosen days is scheduled, and a queue made on its page
// takes a post from the composer.
func TestBrowserRepeatsAndQueues(t *testing.T) {
	t.Parallel()
	h := startHerald(t, config.TransportLocal)
	api := h.newClient()
	email := uniqueEmail("browser-sched")
	const password = "correct horse battery"
	api.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Agency", "name": "Owner", "email": email, "password": password}, http.StatusCreated)
	api.login(email, password)
	wsID := str(api.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Bakery", "timezone": "Europe/Paris"}, http.StatusCreated), "id")
	api.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": h.Sim.CreateAccount("bakery")}, http.StatusCreated)

	b := openBrowser(t, h)
	b.open("/login", "#login-form")
	b.do("signing in",
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password))
	b.submit(`#login-form button[type=submit]`, "#workspaces")

	ws := "/workspaces/" + wsID
	b.open(ws, "#compose-form")
	if b.count(`#compose-repeat:not([hidden])`) != 0 {
		t.Fatal("the repeat inputs show before Repeat is chosen")
	}
	b.do("choosing Repeat", chromedp.Click(chromedp.CSS(`#compose-form input[name=when][value=repeat]`)))
	b.wait("the repeat inputs to show", `!document.querySelector('#compose-repeat').hidden`, stepTimeout)
	if got := b.text(`#compose-form button[type=submit]`); got != "Schedule repeats" {
		t.Errorf("the button says %q", got)
	}
	b.shot("repeat chosen")
	b.do("writing a weekly post",
		chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=text]`), "Fresh bread on Mondays and Thursdays"),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=account_ids]`)),
		chromedp.SetValue(chromedp.CSS(`#compose-form select[name=repeat_freq]`), "weekly"),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=repeat_days][value=MO]`)),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=repeat_days][value=TH]`)),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=repeat_end][value=count]`)),
		chromedp.SendKeys(chromedp.CSS(`#compose-form input[name=repeat_count]`), "6"))
	b.submit(`#compose-form button[type=submit]`, ".flash")
	if got := b.text(".flash"); !strings.Contains(got, "Every week on MO, TH, 6 times") {
		t.Fatalf("flash = %q", got)
	}
	if b.count(`.post[data-status=scheduled] .post-repeat`) != 1 {
		t.Fatal("the repeating post is not listed with its rule")
	}

	// A queue, made on its page.
	b.open(ws+"/queues", "#queue-form")
	b.do("describing a queue",
		chromedp.SendKeys(chromedp.CSS(`#queue-form input[name=name]`), "Evergreen"),
		chromedp.SendKeys(chromedp.CSS(`#queue-form input[name=slots_2]`), "09:30"),
		chromedp.Click(chromedp.CSS(`#queue-form input[name=account_ids]`)))
	b.submit(`#queue-form button[type=submit]`, "#queued-posts")
	b.shot("queue made")

	b.open(ws, "#compose-form")
	if b.count(`#compose-queue:not([hidden])`) != 0 {
		t.Fatal("the queue inputs show before Add to queue is chosen")
	}
	b.do("adding to the queue",
		chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=text]`), "Our sourdough starter is 10 years old"),
		chromedp.Click(chromedp.CSS(`#compose-form input[name=when][value=queue]`)))
	b.wait("the queue inputs to show", `!document.querySelector('#compose-queue').hidden`, stepTimeout)
	b.submit(`#compose-form button[type=submit]`, ".flash")
	if got := b.text(".flash"); !strings.Contains(got, "Added to the queue: it goes out") {
		t.Fatalf("flash = %q", got)
	}
	b.shot("queued")

	// The automations page offers the queue as an action.
	b.open(ws+"/automations", "#automation-form")
	if b.count(`#automation-form select[name=queue_id] option`) != 2 {
		t.Error("the automation form does not offer the queue")
	}
	b.shot("automations")
}
