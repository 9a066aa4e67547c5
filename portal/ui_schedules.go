package portal

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
)

// The composer's schedule choices beyond a single time: a simple repeat
// (daily, weekly on chosen days, monthly; ending after N times or on a
// date) or a raw RRULE, turned here into the domain's When.

// weekdays are the composer's day choices, as RRULE names them.
var weekdays = []struct{ Code, Label string }{
	{"MO", "Mon"}, {"TU", "Tue"}, {"WE", "Wed"}, {"TH", "Thu"}, {"FR", "Fri"}, {"SA", "Sat"}, {"SU", "Sun"},
}

// formWhen reads the composer's "when" choice. Problems only the form can
// have (a repeat end that is not a number) are added to v under the form's
// input names.
func formWhen(r *http.Request, v *errs.Fields, loc *time.Location) When {
	at := strings.TrimSpace(r.PostFormValue("scheduled_at"))
	skip := strings.TrimSpace(r.PostFormValue("skip_late"))
	switch r.PostFormValue("when") {
	case "now":
		return When{PublishNow: true}
	case "draft":
		return When{Draft: true}
	case "queue":
		q := strings.TrimSpace(r.PostFormValue("queue_id"))
		return When{QueueID: &q, Evergreen: r.PostFormValue("evergreen") != ""}
	case "repeat":
		return When{Repeat: formRepeat(r, v, at, loc)}
	}
	return When{ScheduledAt: &at, SkipIfLaterThan: &skip}
}

// formRepeat builds the rule of the composer's repeat choice. The first
// occurrence is the form's date and time.
func formRepeat(r *http.Request, v *errs.Fields, start string, loc *time.Location) *RepeatInput {
	in := &RepeatInput{StartLocal: start, SkipIfLaterThan: strings.TrimSpace(r.PostFormValue("skip_late"))}
	var parts []string
	switch r.PostFormValue("repeat_freq") {
	case "custom":
		in.RRule = strings.TrimSpace(r.PostFormValue("repeat_rrule"))
		if in.RRule == "" {
			v.Add("repeat_rrule", "Write a rule such as FREQ=WEEKLY;BYDAY=MO,TH;COUNT=8, or choose a simple repeat.")
		}
	case "weekly":
		parts = append(parts, "FREQ=WEEKLY")
		var days []string
		for _, d := range weekdays {
			if hasValue(r.PostForm["repeat_days"], d.Code) {
				days = append(days, d.Code)
			}
		}
		if len(days) == 0 {
			v.Add("repeat_days", "Choose at least one day of the week.")
		} else {
			parts = append(parts, "BYDAY="+strings.Join(days, ","))
		}
	case "monthly":
		parts = append(parts, "FREQ=MONTHLY")
	default:
		parts = append(parts, "FREQ=DAILY")
	}
	if in.RRule == "" && len(parts) > 0 {
		switch r.PostFormValue("repeat_end") {
		case "count":
			n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("repeat_count")))
			if err != nil || n < 1 || n > 1000 {
				v.Add("repeat_count", "Give how many times, from 1 to 1000.")
			} else {
				parts = append(parts, "COUNT="+strconv.Itoa(n))
			}
		case "until":
			d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(r.PostFormValue("repeat_until")), loc)
			if err != nil {
				v.Add("repeat_until", "Choose the last day it repeats.")
			} else {
				// The whole last day counts, in the workspace's zone.
				end := d.AddDate(0, 0, 1).Add(-time.Second).UTC()
				parts = append(parts, "UNTIL="+end.Format("20060102T150405Z"))
			}
		}
		in.RRule = strings.Join(parts, ";")
	}
	if skip := strings.TrimSpace(r.PostFormValue("repeat_skip_dates")); skip != "" {
		tod := ""
		if t, err := parseWall(start); err == nil {
			tod = t.Format("T15:04")
		}
		for _, d := range strings.FieldsFunc(skip, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			in.Exceptions = append(in.Exceptions, d+tod)
		}
	}
	return in
}

func hasValue(vs []string, want string) bool {
	for _, v := range vs {
		if v == want {
			return true
		}
	}
	return false
}

// formScheduleFields are the composer's inputs a When's field errors go
// to: the API's field names become the form's.
var formScheduleFields = map[string]string{
	"repeat.rrule":              "repeat_rrule",
	"repeat.start_local":        "scheduled_at",
	"repeat.zone":               "repeat_rrule",
	"repeat.exceptions":         "repeat_skip_dates",
	"repeat.skip_if_later_than": "skip_late",
	"skip_if_later_than":        "skip_late",
	"repeat":                    "when",
	"publish_now":               "when",
	"draft":                     "when",
}

// renameFields gives a domain error the form's input names.
func renameFields(err error, names map[string]string) error {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = map[string]string{}
	for f, msg := range e.Fields {
		base, rest := f, ""
		if i := strings.IndexByte(f, '['); i > 0 {
			base, rest = f[:i], f[i:]
		}
		if to, ok := names[base]; ok {
			f = to + rest
		}
		out.Fields[f] = msg
	}
	return &out
}

// attachFirings loads the latest firings of the recurring and queued posts
// of a list, for the page to show each firing's outcome.
func (s *Service) attachFirings(ctx context.Context, agencyID string, posts []Post, n int) error {
	for i := range posts {
		if !repeating(posts[i].Kind) || posts[i].FiredCount == 0 {
			continue
		}
		f, err := s.firings(ctx, s.db, agencyID, posts[i].ID, n)
		if err != nil {
			return err
		}
		posts[i].Firings = f
	}
	return nil
}

// whenView is what the "when-fields" template shows: the schedule choices
// of the composer or the edit page.
type whenView struct {
	Form *form
	// Zone and Offset are the workspace's; SuggestedTime pre-fills the
	// time of a fresh form.
	Zone, Offset, SuggestedTime string
	Weekdays                    []struct{ Code, Label string }
	// Default is the choice of a fresh form; AllowNow offers "Publish now".
	Default  string
	AllowNow bool
	Queues   []Queue
}

func (u *webUI) whenView(ctx context.Context, p *Principal, ws Workspace, f *form, now time.Time, def string, allowNow bool) whenView {
	v := whenView{Form: f, Zone: ws.Timezone, Offset: utcOffset(now), SuggestedTime: now.Truncate(time.Hour).Add(time.Hour).Format("2006-01-02T15:04"),
		Weekdays: weekdays, Default: def, AllowNow: allowNow}
	v.Queues = u.queueChoices(ctx, p, ws)
	return v
}

// queueChoices are the queues the composer offers; none when Trigger cannot
// say (the page still works without them).
func (u *webUI) queueChoices(ctx context.Context, p *Principal, ws Workspace) []Queue {
	if !ws.Role.can(actWritePosts) {
		return nil
	}
	qs, err := u.s.ListQueues(ctx, p, ws.ID)
	if err != nil {
		u.s.log.Warn("listing queues for the composer", "workspace_id", ws.ID, "err", err)
		return nil
	}
	return qs
}

type postEditView struct {
	chrome
	WS       Workspace
	Post     Post
	Form     *form
	When     whenView
	Accounts []Account
	// Compose and Media serve the per-network fields shared with the
	// composer: the form again, and the post's images (their alt text).
	Compose *form
	Media   []Media
	// VariantsEditable: the form can show the post's variants as they
	// are (see variantsFitTheForm).
	VariantsEditable bool
}

// variantsFitTheForm says whether the per-network fields can show a post's
// variants without losing any: they hold texts, parts and alt text of the
// post's own images, not another set of images nor an emptied thread or
// first comment (which the form could only read back as "the post's own").
func variantsFitTheForm(post Post) bool {
	for _, vr := range post.Variants {
		if vr.HasMedia && !slices.Equal(variantMediaIDs(vr), post.MediaIDs) {
			return false
		}
		if (vr.HasThread && len(vr.Thread) == 0) || (vr.HasFirstComment && vr.FirstComment == "") {
			return false
		}
	}
	return true
}

func variantMediaIDs(vr Variant) []string {
	ids := make([]string, len(vr.Media))
	for i, m := range vr.Media {
		ids[i] = m.MediaID
	}
	return ids
}

// postForm is the edit page's form filled from the post as it stands.
func postForm(post Post) *form {
	v := url.Values{"text": {post.Text}, "account_ids": post.AccountIDs, "labels": {strings.Join(post.Labels, ", ")}}
	switch post.Kind {
	case KindDraft:
		v.Set("when", "draft")
	case KindRecurring:
		v.Set("when", "repeat")
		v.Set("repeat_freq", "custom")
		v.Set("repeat_rrule", post.RRule)
		v.Set("scheduled_at", wallOf(post.StartLocal))
		var days []string
		for _, x := range post.Exceptions {
			days = append(days, x[:min(len(x), 10)])
		}
		v.Set("repeat_skip_dates", strings.Join(days, ", "))
	case KindQueue:
		v.Set("when", "queue")
		v.Set("queue_id", post.QueueID)
		if post.Evergreen {
			v.Set("evergreen", "on")
		}
	default:
		v.Set("when", "schedule")
		v.Set("scheduled_at", post.LocalTime)
	}
	if post.SkipLate > 0 {
		v.Set("skip_late", post.SkipLate.String())
	}
	v["media_ids"] = post.MediaIDs
	for n, vr := range post.Variants {
		if vr.Text != "" {
			v.Set("variant."+n+".text", vr.Text)
		}
		if vr.HasFirstComment {
			v.Set("variant."+n+".first_comment", vr.FirstComment)
		}
		if vr.HasThread {
			v.Set("variant."+n+".thread", strings.Join(vr.Thread, "\n---\n"))
		}
		for _, m := range vr.Media {
			if m.AltText != "" {
				v.Set("variant."+n+".alt."+m.MediaID, m.AltText)
			}
		}
	}
	if post.UTM.Enabled {
		v.Set("utm", "1")
		v.Set("utm_source", post.UTM.Source)
		v.Set("utm_medium", post.UTM.Medium)
		v.Set("utm_campaign", post.UTM.Campaign)
	}
	// A fresh form, not a refused one: no errors, and Sent is false.
	return &form{Values: v, Errors: map[string]string{}}
}

func (u *webUI) editPage(w http.ResponseWriter, r *http.Request, p *Principal, post Post, f *form, status int) error {
	ctx := r.Context()
	ws, err := u.s.GetWorkspace(ctx, p, post.WorkspaceID)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return err
	}
	v := postEditView{WS: ws, Post: post, Form: f, Compose: f, VariantsEditable: variantsFitTheForm(post)}
	if v.Media, err = u.s.mediaByIDs(ctx, p.AgencyID, ws.ID, post.MediaIDs); err != nil {
		return err
	}
	if ws.Role.can(actViewAccounts) {
		if v.Accounts, err = u.s.ListAccounts(ctx, p, ws.ID); err != nil {
			return err
		}
	}
	v.When = u.whenView(ctx, p, ws, f, time.Now().In(loc), "schedule", true)
	v.chrome = u.chrome(w, r, p, "Edit post", "workspace")
	v.Current = ws.ID
	u.render(w, r, status, "post_edit", v)
	return nil
}

// GET /workspaces/{id}/posts/{post}/edit
func (u *webUI) editPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	post, err := u.s.GetPost(r.Context(), p, r.PathValue("post"))
	if err != nil {
		return err
	}
	if post.WorkspaceID != r.PathValue("id") {
		return errs.E(errs.NotFound, "post not found")
	}
	return u.editPage(w, r, p, post, postForm(post), http.StatusOK)
}

// pathPost is the post of the path's {post} in the path's workspace {id},
// and that workspace; not found when the post is another workspace's.
func (u *webUI) pathPost(r *http.Request, p *Principal) (Post, Workspace, error) {
	post, err := u.s.GetPost(r.Context(), p, r.PathValue("post"))
	if err != nil {
		return Post{}, Workspace{}, err
	}
	if post.WorkspaceID != r.PathValue("id") {
		return Post{}, Workspace{}, errs.E(errs.NotFound, "post not found")
	}
	ws, err := u.s.GetWorkspace(r.Context(), p, post.WorkspaceID)
	if err != nil {
		return Post{}, Workspace{}, err
	}
	return post, ws, nil
}

// POST /workspaces/{id}/posts/{post} : saves an edit, and schedules a
// draft when a schedule is chosen.
func (u *webUI) updatePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	post, ws, err := u.pathPost(r, p)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return err
	}
	var formErrs errs.Fields
	when := formWhen(r, &formErrs, loc)
	text, labels := r.PostFormValue("text"), splitLabels(r.PostFormValue("labels"))
	up := PostUpdate{Text: &text, Labels: &labels, ScheduledAt: when.ScheduledAt, PublishNow: when.PublishNow, Repeat: when.Repeat,
		QueueID: when.QueueID, Evergreen: when.Evergreen, Draft: when.Draft, SkipIfLaterThan: when.SkipIfLaterThan}
	if post.Kind == KindDraft && when.Draft {
		up.Draft = false // stays a draft: only the text changes
	}
	if r.PostFormValue("accounts_shown") != "" {
		// Sent only when the choice changed: a post that went out keeps
		// its accounts, and saying so again is no change.
		ids := r.PostForm["account_ids"]
		if ids == nil {
			ids = []string{}
		}
		if !sameSet(ids, post.AccountIDs) {
			up.AccountIDs = ids
		}
	}
	if r.PostFormValue("variants_shown") != "" && variantsFitTheForm(post) {
		// The per-network fields as shown: unchanged ones are no change
		// (an approval stands), emptied ones give the network the post's
		// own again.
		vs, utm := formVariants(r), formUTM(r)
		up.Variants, up.UTM = &vs, &utm
	}
	var saved Post
	err = formErrs.Err()
	if err == nil {
		saved, err = u.s.UpdatePost(ctx, p, post.ID, up)
	}
	if err != nil {
		f := newForm(r)
		err, variantInputs := variantFormErrors(err)
		if err := f.fail(renameFields(err, formScheduleFields), append(variantInputs, composerInputs...)...); err != nil {
			return err
		}
		return u.editPage(w, r, p, post, f, refusedStatus(w, err))
	}
	msg := "Saved."
	switch {
	case saved.Status == PostPendingApproval:
		msg = pendingMessage(saved)
	case saved.Kind == KindDraft:
		msg = "Draft saved."
	case saved.Kind == KindRecurring:
		msg = "Saved: " + describeRepeat(saved.RRule) + ", next on " + wallLabel(saved.LocalTime) + " (" + saved.Zone + ")."
	case saved.Kind == KindQueue:
		msg = "Saved in the queue."
	default:
		if saved.LocalTime != "" {
			msg = "Saved: scheduled for " + wallLabel(saved.LocalTime) + " (" + saved.Zone + ")."
		}
	}
	u.setFlash(w, flash{Kind: "success", Message: msg})
	redirect(w, r, workspacePath(ws.ID)+"#post-"+url.PathEscape(saved.ID))
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}
