package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/config"
)

// TestBrowserCalendarDrag schedules a post, opens the workspace's month in
// the browser, drags the post's chip to another day and checks through the
// API that Herald moved it there at the same local time of day.
//
// The drag is the page's own drag-and-drop events dispatched on the chip
// and the day cell: headless Chromium does not start a native drag from
// synthetic mouse input, and what is under test is calendar.js and the
// route it posts to.
func TestBrowserCalendarDrag(t *testing.T) {
	t.Parallel()
	chromium(t)
	h := startHerald(t, config.TransportLocal)
	api := h.newClient()
	email := uniqueEmail("browser-cal")
	const password = "correct horse battery"
	api.call(http.MethodPost, "/api/v1/setup", obj{"agency_name": "Agency", "name": "Owner", "email": email, "password": password}, http.StatusCreated)
	api.login(email, password)
	wsID := str(api.call(http.MethodPost, "/api/v1/workspaces", obj{"name": "Bakery", "timezone": "Europe/Paris"}, http.StatusCreated), "id")
	acct := str(api.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/accounts",
		obj{"network": "mastodon", "instance_url": h.SimURL, "access_token": h.Sim.CreateAccount("bakery")}, http.StatusCreated), "id")

	// Three days ahead at 10:00 in Paris; moved a day later, or a day
	// earlier when that would leave the month shown.
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(paris).AddDate(0, 0, 3)
	target := day.AddDate(0, 0, 1)
	if target.Month() != day.Month() {
		target = day.AddDate(0, 0, -1)
	}
	dayStr, targetStr := day.Format(time.DateOnly), target.Format(time.DateOnly)
	postID := str(api.call(http.MethodPost, "/api/v1/workspaces/"+wsID+"/posts",
		obj{"text": "Croissants on the calendar", "account_ids": []string{acct}, "scheduled_at": dayStr + "T10:00", "labels": []string{"bakery"}},
		http.StatusCreated), "id")

	b := openBrowser(t, h)
	b.open("/login", "#login-form")
	b.do("signing in",
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password))
	b.submit(`#login-form button[type=submit]`, "#workspaces")

	// From the workspace page to its calendar.
	b.open("/workspaces/"+wsID, "#calendar-link")
	b.submit("#calendar-link", "#calendar")
	chip := `td[data-date="` + dayStr + `"] .cal-chip[data-post-id="` + postID + `"]`
	b.open("/workspaces/"+wsID+"/calendar?view=month&date="+dayStr, chip)
	if got := b.text(chip + " .cal-time"); got != "10:00" {
		t.Errorf("the chip shows %q, want 10:00", got)
	}
	if got := b.text("#calendar-zone"); got != "Europe/Paris" {
		t.Errorf("the calendar is in %q", got)
	}
	b.shot("calendar before the drag")

	drag := dragJS(chip, `td[data-date="`+targetStr+`"]`)
	if !run(b, "dragging the chip", chromedp.Evaluate[bool](drag)) {
		t.Fatal("the chip or the target day is not on the page")
	}
	b.wait("the move to be confirmed", `document.querySelector("#calendar-status.is-ok") !== null`, stepTimeout)
	if msg := b.text("#calendar-status"); !strings.Contains(msg, "Moved to") || !strings.Contains(msg, "at 10:00") {
		t.Errorf("the confirmation says %q", msg)
	}
	if b.count(`td[data-date="`+targetStr+`"] .cal-chip[data-post-id="`+postID+`"]`) != 1 {
		t.Error("the chip did not move to the target day")
	}
	b.shot("calendar after the drag")

	got := api.call(http.MethodGet, "/api/v1/posts/"+postID, nil, http.StatusOK)
	if at := str(got, "scheduled_at"); at != targetStr+"T10:00" {
		t.Fatalf("the post is scheduled at %s, want %sT10:00", at, targetStr)
	}

	// After a reload the calendar shows it on its new day.
	b.open("/workspaces/"+wsID+"/calendar?view=month&date="+targetStr, `td[data-date="`+targetStr+`"] .cal-chip[data-post-id="`+postID+`"]`)

	// Into the past: refused, said so, and the post stays.
	past := time.Now().In(paris).AddDate(0, 0, -1)
	if past.Month() == target.Month() {
		b.open("/workspaces/"+wsID+"/calendar?view=month&date="+targetStr, "#calendar")
		refused := dragJS(`.cal-chip[data-post-id="`+postID+`"]`, `td[data-date="`+past.Format(time.DateOnly)+`"]`)
		if !run(b, "dragging into the past", chromedp.Evaluate[bool](refused)) {
			t.Fatal("the chip or yesterday is not on the page")
		}
		b.wait("the refusal", `document.querySelector("#calendar-status.is-error") !== null`, stepTimeout)
		if msg := b.text("#calendar-status"); !strings.Contains(msg, "in the past") {
			t.Errorf("the refusal says %q", msg)
		}
		if at := str(api.call(http.MethodGet, "/api/v1/posts/"+postID, nil, http.StatusOK), "scheduled_at"); at != targetStr+"T10:00" {
			t.Errorf("the refused drag moved the post to %s", at)
		}
	}
}

// dragJS is a script dispatching, in order, the events a drag of the
// element chip onto the element day makes; it answers whether both exist.
func dragJS(chip, day string) string {
	return `(() => {
		const chip = document.querySelector(` + strconv.Quote(chip) + `);
		const day = document.querySelector(` + strconv.Quote(day) + `);
		if (!chip || !day) return false;
		const dt = new DataTransfer();
		const fire = (el, type) => el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
		fire(chip, "dragstart");
		fire(day, "dragenter");
		fire(day, "dragover");
		fire(day, "drop");
		fire(chip, "dragend");
		return true;
	})()`
}
