package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// An automation turns each new item of an RSS/Atom feed into a post: a
// draft for someone to approve, or a post added to a queue. Trigger polls
// the feed (its feed id is the automation's id) and emits feed.item once per
// new item; Portal renders the automation's template over the item and
// records the item with the post in one transaction, so an item is never
// acted on twice.

// Automation actions.
const (
	ActionDraft = "draft"
	ActionQueue = "queue"
)

// Item outcomes.
const (
	ItemDraft  = "draft"
	ItemQueued = "queued"
	ItemFailed = "failed"
)

// Limits of an automation's input.
const (
	maxTemplateBytes = 5000
	maxFeedURL       = 2000
	defaultInterval  = 15 * time.Minute
	minInterval      = 5 * time.Minute
	maxInterval      = 7 * 24 * time.Hour
	maxBackfill      = 20
	shownItems       = 20
)

// Automation is a workspace's feed automation.
type Automation struct {
	ID, WorkspaceID, Name, FeedURL string
	Interval                       time.Duration
	Template                       string
	AccountIDs                     []string
	Action, QueueID                string
	Evergreen, Paused              bool
	// AttachImage: each item's image (if it has one) is fetched into the
	// media library and attached to the post.
	AttachImage          bool
	CreatedBy            string
	CreatedAt, UpdatedAt time.Time
	// Feed is Trigger's view of the feed (GetAutomation only; nil when
	// Trigger cannot say).
	Feed *triggerv1.Feed
	// Items are the latest items acted on, newest first (GetAutomation).
	Items []AutomationItem
}

// AutomationItem is what an automation did with one feed item.
type AutomationItem struct {
	Key, Title, Link, PostID, Outcome, Error string
	CreatedAt                                time.Time
}

// AutomationInput creates or replaces an automation.
type AutomationInput struct {
	Name     string
	FeedURL  string
	Interval string
	// Backfill: how many of the items already in the feed at its first
	// poll are acted on (0 to 20).
	Backfill   int
	Template   string
	AccountIDs []string
	Action     string
	QueueID    string
	Evergreen  bool
	// AttachImage attaches each item's image to its post.
	AttachImage bool
}

// feedItemData is what a template sees of an item: {{.title}}, {{.link}},
// {{.summary}}, {{.author}}, {{.categories}}.
func feedItemData(ev *eventsv1.FeedItem) map[string]any {
	cats := ev.GetCategories()
	if cats == nil {
		cats = []string{}
	}
	return map[string]any{"title": ev.GetTitle(), "link": ev.GetLink(), "summary": ev.GetSummary(),
		"author": ev.GetAuthor(), "categories": cats}
}

// sampleItem checks a template when it is saved: every field filled, a
// summary longer than most.
var sampleItem = &eventsv1.FeedItem{Title: "A sample title of a typical length for a blog post",
	Link: "https://blog.example/2026/12/a-sample-post", Summary: strings.Repeat("Sample summary text. ", 10),
	Author: "Ada Example", Categories: []string{"news", "food"}}

var templateFuncs = template.FuncMap{
	// truncate shortens s to at most n characters, ending with "…".
	"truncate": func(n int, s string) string {
		if n < 1 || utf8.RuneCountInString(s) <= n {
			return s
		}
		r := []rune(s)
		return strings.TrimSpace(string(r[:n-1])) + "…"
	},
	// hashtags turns categories into "#news #food".
	"hashtags": func(cats []string) string {
		var out []string
		for _, c := range cats {
			c = strings.Join(strings.FieldsFunc(c, func(r rune) bool { return r == ' ' || r == '-' || r == '#' }), "")
			if c != "" {
				out = append(out, "#"+c)
			}
		}
		return strings.Join(out, " ")
	},
	"join": strings.Join,
}

// parseTemplate compiles a post template; unknown fields are errors.
func parseTemplate(text string) (*template.Template, error) {
	return template.New("post").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
}

// maxRenderBytes bounds a template's output while it runs: nested
// templates could otherwise double it at every level.
const maxRenderBytes = 4 * maxTextBytes

var errRenderTooLong = errors.New("the post is longer than any network takes")

// cappedBuffer refuses writes past its limit.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.limit {
		return 0, errRenderTooLong
	}
	return c.Buffer.Write(p)
}

// render runs a template over an item; the text is trimmed.
func render(t *template.Template, ev *eventsv1.FeedItem) (string, error) {
	b := &cappedBuffer{limit: maxRenderBytes}
	if err := t.Execute(b, feedItemData(ev)); err != nil {
		if errors.Is(err, errRenderTooLong) {
			return "", errRenderTooLong
		}
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// templateError is a template problem without Go's internal prefixes.
func templateError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	msg = strings.TrimPrefix(msg, "post:")
	return strings.TrimSpace(msg)
}

// checkAutomation validates an automation's input: the feed URL's form
// (Trigger checks where it leads), the template against a sample item and
// each account's network, the accounts and the action.
func (s *Service) checkAutomation(ctx context.Context, v *errs.Fields, p *Principal, ws Workspace, in AutomationInput) (Automation, []targetAccount, *durationpb.Duration) {
	a := Automation{WorkspaceID: ws.ID, Name: strings.TrimSpace(in.Name), FeedURL: strings.TrimSpace(in.FeedURL),
		Template: in.Template, Action: in.Action, QueueID: strings.TrimSpace(in.QueueID), Evergreen: in.Evergreen,
		AttachImage: in.AttachImage}
	switch {
	case a.Name == "":
		v.Add("name", "is required")
	case len(a.Name) > maxQueueName:
		v.Add("name", "must be at most %d characters", maxQueueName)
	}
	if u, err := url.Parse(a.FeedURL); a.FeedURL == "" {
		v.Add("feed_url", "is required: the address of an RSS or Atom feed")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(a.FeedURL) > maxFeedURL {
		v.Add("feed_url", "must be an http or https address such as https://blog.example/feed.xml")
	}
	a.Interval = defaultInterval
	if d := strings.TrimSpace(in.Interval); d != "" {
		dur, err := time.ParseDuration(d)
		switch {
		case err != nil:
			v.Add("interval", "must be a duration such as 15m or 1h")
		case dur < minInterval || dur > maxInterval:
			v.Add("interval", "must be from 5 minutes to 1 week")
		default:
			a.Interval = dur
		}
	}
	if a.AttachImage && s.outbound == nil {
		v.Add("attach_image", "cannot be set: this installation does not fetch media from other sites")
	}
	if in.Backfill < 0 || in.Backfill > maxBackfill {
		v.Add("backfill", "must be from 0 to %d", maxBackfill)
	}
	accounts := s.checkAccounts(ctx, v, p.AgencyID, ws.ID, in.AccountIDs)
	for _, acc := range accounts {
		a.AccountIDs = append(a.AccountIDs, acc.id)
	}
	switch a.Action {
	case ActionDraft:
		if a.QueueID != "" || a.Evergreen {
			v.Add("queue_id", "is only for the action queue")
		}
	case ActionQueue:
		var pv errs.Fields
		if _, ok := s.planQueue(ctx, &pv, p.AgencyID, ws, a.QueueID, a.Evergreen); !ok {
			for f, m := range pv {
				v.Add(f, "%s", m)
			}
		}
	default:
		v.Add("action", "must be draft (a draft for approval) or queue (a post added to a queue)")
	}
	switch {
	case strings.TrimSpace(a.Template) == "":
		v.Add("template", "is required, e.g. {{.title}} {{.link}}")
	case len(a.Template) > maxTemplateBytes:
		v.Add("template", "must be at most %d bytes", maxTemplateBytes)
	default:
		t, err := parseTemplate(a.Template)
		if err != nil {
			v.Add("template", "%s", templateError(err))
			break
		}
		text, err := render(t, sampleItem)
		switch {
		case err != nil:
			v.Add("template", "%s (fields: .title .link .summary .author .categories)", templateError(err))
		case text == "":
			v.Add("template", "gives an empty post")
		case len(*v) == 0:
			// The networks check the length of a typical item's post.
			var cv errs.Fields
			if err := s.validateContent(ctx, &cv, text, accounts, nil); err != nil {
				v.Add("template", "could not be checked right now; try again shortly")
				break
			}
			for _, m := range cv {
				v.Add("template", "gives a post that is too long for a typical item: %s; shorten it, e.g. {{truncate 200 .summary}}", m)
			}
		}
	}
	return a, accounts, durationpb.New(a.Interval)
}

// putFeed asks Trigger to poll the automation's feed.
func (s *Service) putFeed(ctx context.Context, agencyID string, a Automation, interval *durationpb.Duration, backfill int) error {
	return s.triggerCall(ctx, "feeds", func(ctx context.Context) error {
		_, err := s.trigger.PutFeed(ctx, &triggerv1.PutFeedRequest{TenantId: agencyID, FeedId: a.ID, WorkspaceId: a.WorkspaceID,
			Url: a.FeedURL, Interval: interval, Paused: a.Paused, Backfill: int32(backfill)})
		return err
	})
}

// feedRefusal maps Trigger's refusal of a feed to the automation's fields.
func feedRefusal(err error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid || len(e.Fields) == 0 {
		return err
	}
	names := map[string]string{"url": "feed_url", "interval": "interval", "backfill": "backfill"}
	var v errs.Fields
	for f, m := range e.Fields {
		to, ok := names[f]
		if !ok {
			return errs.Wrap(err, errs.Unavailable, "feeds are unavailable right now; try again shortly")
		}
		v.Add(to, "%s", m)
	}
	return v.Err()
}

func writeAutomation(ctx context.Context, tx *store.Tx, agencyID string, a Automation, insert bool) error {
	var err error
	if insert {
		_, err = tx.Exec(ctx, `INSERT INTO portal_automations (id, agency_id, workspace_id, name, feed_url, interval_s, template, action,
				queue_id, evergreen, attach_image, paused, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, agencyID, a.WorkspaceID, a.Name, a.FeedURL, int64(a.Interval/time.Second), a.Template, a.Action, a.QueueID, a.Evergreen,
			a.AttachImage, a.Paused, a.CreatedBy, store.ToMicros(a.CreatedAt), store.ToMicros(a.UpdatedAt))
	} else {
		_, err = tx.Exec(ctx, `UPDATE portal_automations SET name = ?, feed_url = ?, interval_s = ?, template = ?, action = ?, queue_id = ?,
				evergreen = ?, attach_image = ?, paused = ?, updated_at = ? WHERE agency_id = ? AND id = ?`,
			a.Name, a.FeedURL, int64(a.Interval/time.Second), a.Template, a.Action, a.QueueID, a.Evergreen, a.AttachImage, a.Paused,
			store.ToMicros(a.UpdatedAt), agencyID, a.ID)
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM portal_automation_accounts WHERE automation_id = ?`, a.ID); err != nil {
		return err
	}
	for _, acc := range a.AccountIDs {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_automation_accounts (automation_id, account_id) VALUES (?, ?)`, a.ID, acc); err != nil {
			return err
		}
	}
	return nil
}

// doCreateAutomation validates and stores an automation, then has Trigger
// poll its feed. If Trigger refuses the feed (its fields come back) or
// cannot be reached, the automation is not kept.
func (s *Service) doCreateAutomation(ctx context.Context, p *Principal, workspaceID string, in AutomationInput) (Automation, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	if err != nil {
		return Automation{}, err
	}
	var v errs.Fields
	a, _, interval := s.checkAutomation(ctx, &v, p, ws, in)
	if err := v.Err(); err != nil {
		return Automation{}, err
	}
	now := time.Now().UTC()
	a.ID, a.CreatedBy, a.CreatedAt, a.UpdatedAt = id.New("auto"), p.UserID, now, now
	// Stored first: the first poll may find items at once, and they must
	// find their automation.
	if err := s.db.Tx(ctx, func(tx *store.Tx) error { return writeAutomation(ctx, tx, p.AgencyID, a, true) }); err != nil {
		return Automation{}, err
	}
	if err := s.putFeed(ctx, p.AgencyID, a, interval, in.Backfill); err != nil {
		bg := context.WithoutCancel(ctx)
		if _, derr := s.db.Exec(bg, `DELETE FROM portal_automations WHERE agency_id = ? AND id = ?`, p.AgencyID, a.ID); derr != nil {
			s.log.Error("removing an automation Trigger did not take", "automation_id", a.ID, "err", derr)
		}
		s.deleteFeed(bg, p.AgencyID, a.ID)
		return Automation{}, feedRefusal(err)
	}
	return s.GetAutomation(ctx, p, a.ID)
}

func (s *Service) deleteFeed(ctx context.Context, agencyID, feedID string) error {
	return s.triggerCall(ctx, "feeds", func(ctx context.Context) error {
		_, err := s.trigger.DeleteFeed(ctx, &triggerv1.DeleteFeedRequest{TenantId: agencyID, FeedId: feedID})
		return err
	})
}

const automationColumns = `id, workspace_id, name, feed_url, interval_s, template, action, queue_id, evergreen, attach_image, paused, created_by, created_at, updated_at`

func scanAutomation(sc interface{ Scan(...any) error }) (Automation, error) {
	var a Automation
	var iv, c, u int64
	err := sc.Scan(&a.ID, &a.WorkspaceID, &a.Name, &a.FeedURL, &iv, &a.Template, &a.Action, &a.QueueID, &a.Evergreen, &a.AttachImage, &a.Paused, &a.CreatedBy, &c, &u)
	a.Interval, a.CreatedAt, a.UpdatedAt = time.Duration(iv)*time.Second, store.FromMicros(c), store.FromMicros(u)
	return a, err
}

func (s *Service) loadAutomation(ctx context.Context, q store.Querier, agencyID, automationID string) (Automation, error) {
	a, err := scanAutomation(q.QueryRow(ctx, `SELECT `+automationColumns+` FROM portal_automations WHERE agency_id = ? AND id = ?`, agencyID, automationID))
	if err != nil {
		return Automation{}, store.NotFound(err, "automation")
	}
	rows, err := q.Query(ctx, `SELECT account_id FROM portal_automation_accounts WHERE automation_id = ? ORDER BY account_id`, a.ID)
	if err != nil {
		return Automation{}, err
	}
	defer rows.Close()
	a.AccountIDs = []string{}
	for rows.Next() {
		var acc string
		if err := rows.Scan(&acc); err != nil {
			return Automation{}, err
		}
		a.AccountIDs = append(a.AccountIDs, acc)
	}
	return a, rows.Err()
}

// GetAutomation returns an automation with its feed's health and its
// latest items.
func (s *Service) GetAutomation(ctx context.Context, p *Principal, automationID string) (Automation, error) {
	a, err := s.loadAutomation(ctx, s.db, p.AgencyID, automationID)
	if err != nil {
		return Automation{}, err
	}
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actReadPosts); err != nil {
		return Automation{}, err
	}
	_ = s.triggerCall(ctx, "feeds", func(ctx context.Context) error {
		res, err := s.trigger.GetFeed(ctx, &triggerv1.GetFeedRequest{TenantId: p.AgencyID, FeedId: a.ID})
		if err == nil {
			a.Feed = res.GetFeed()
		}
		return err
	})
	rows, err := s.db.Query(ctx, `SELECT item_key, title, link, post_id, outcome, error, created_at FROM portal_automation_items
		WHERE automation_id = ? ORDER BY created_at DESC, item_key LIMIT ?`, a.ID, shownItems)
	if err != nil {
		return Automation{}, err
	}
	defer rows.Close()
	a.Items = []AutomationItem{}
	for rows.Next() {
		var it AutomationItem
		var c int64
		if err := rows.Scan(&it.Key, &it.Title, &it.Link, &it.PostID, &it.Outcome, &it.Error, &c); err != nil {
			return Automation{}, err
		}
		it.CreatedAt = store.FromMicros(c)
		a.Items = append(a.Items, it)
	}
	return a, rows.Err()
}

// ListAutomations lists a workspace's automations.
func (s *Service) ListAutomations(ctx context.Context, p *Principal, workspaceID string) ([]Automation, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actReadPosts); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id FROM portal_automations WHERE agency_id = ? AND workspace_id = ? ORDER BY created_at, id`, p.AgencyID, workspaceID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var aid string
		if err := rows.Scan(&aid); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, aid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []Automation{}
	for _, aid := range ids {
		a, err := s.loadAutomation(ctx, s.db, p.AgencyID, aid)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// doUpdateAutomation replaces an automation; Trigger gets the feed again. If
// Trigger refuses or cannot be reached, the automation stays as it was.
func (s *Service) doUpdateAutomation(ctx context.Context, p *Principal, automationID string, in AutomationInput) (Automation, error) {
	old, err := s.loadAutomation(ctx, s.db, p.AgencyID, automationID)
	if err != nil {
		return Automation{}, err
	}
	ws, err := s.authorize(ctx, s.db, p, old.WorkspaceID, actWritePosts)
	if err != nil {
		return Automation{}, err
	}
	var v errs.Fields
	a, _, interval := s.checkAutomation(ctx, &v, p, ws, in)
	if err := v.Err(); err != nil {
		return Automation{}, err
	}
	a.ID, a.Paused, a.CreatedBy, a.CreatedAt, a.UpdatedAt = old.ID, old.Paused, old.CreatedBy, old.CreatedAt, time.Now().UTC()
	if err := s.putFeed(ctx, p.AgencyID, a, interval, in.Backfill); err != nil {
		return Automation{}, feedRefusal(err)
	}
	if err := s.db.Tx(ctx, func(tx *store.Tx) error { return writeAutomation(ctx, tx, p.AgencyID, a, false) }); err != nil {
		return Automation{}, err
	}
	return s.GetAutomation(ctx, p, a.ID)
}

// doPauseAutomation stops (paused) or resumes polling the feed.
func (s *Service) doPauseAutomation(ctx context.Context, p *Principal, automationID string, paused bool) (Automation, error) {
	a, err := s.loadAutomation(ctx, s.db, p.AgencyID, automationID)
	if err != nil {
		return Automation{}, err
	}
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actWritePosts); err != nil {
		return Automation{}, err
	}
	a.Paused = paused
	if err := s.putFeed(ctx, p.AgencyID, a, durationpb.New(a.Interval), 0); err != nil {
		return Automation{}, feedRefusal(err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE portal_automations SET paused = ?, updated_at = ? WHERE agency_id = ? AND id = ?`,
		paused, store.ToMicros(time.Now()), p.AgencyID, a.ID); err != nil {
		return Automation{}, err
	}
	return s.GetAutomation(ctx, p, a.ID)
}

// doDeleteAutomation stops polling the feed and deletes the automation; the
// posts it made stay.
func (s *Service) doDeleteAutomation(ctx context.Context, p *Principal, automationID string) error {
	a, err := s.loadAutomation(ctx, s.db, p.AgencyID, automationID)
	if err != nil {
		return err
	}
	if _, err := s.authorize(ctx, s.db, p, a.WorkspaceID, actWritePosts); err != nil {
		return err
	}
	if err := s.deleteFeed(ctx, p.AgencyID, a.ID); err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `DELETE FROM portal_automations WHERE agency_id = ? AND id = ?`, p.AgencyID, a.ID)
	return err
}

// onFeedItem acts on a new feed item for its automation: renders the post,
// checks it against the accounts' networks, and in one transaction records
// the item and writes the post (a draft, or a queued post then handed to
// Trigger). An item already recorded is not acted on again, whatever the
// bus delivers; an item whose post cannot be made is recorded as failed
// with the reason.
func (s *Service) onFeedItem(ctx context.Context, m *bus.Message) error {
	ev := &eventsv1.FeedItem{}
	if err := proto.Unmarshal(m.Payload, ev); err != nil {
		s.log.Error("dropping undecodable event", "topic", m.Topic, "id", m.ID, "err", err)
		return nil
	}
	tenant := ev.GetTenantId()
	a, err := s.loadAutomation(ctx, s.db, tenant, ev.GetFeedId())
	if errs.Is(err, errs.NotFound) || (err == nil && a.WorkspaceID != ev.GetWorkspaceId()) || ev.GetItemKey() == "" {
		return nil // deleted meanwhile, or not ours
	}
	if err != nil {
		return err
	}
	var one int
	err = s.db.QueryRow(ctx, `SELECT 1 FROM portal_automation_items WHERE automation_id = ? AND item_key = ?`, a.ID, ev.GetItemKey()).Scan(&one)
	if err == nil {
		return nil // acted on before: the check below in the transaction is the guard, this only saves work
	}
	if !errors.Is(err, store.ErrNoRows) {
		return err
	}

	// Rendered and checked outside the transaction: Publisher is a network
	// call, and the store may take one writer at a time.
	var ws Workspace
	if err := s.db.QueryRow(ctx, `SELECT timezone FROM portal_workspaces WHERE agency_id = ? AND id = ?`, tenant, a.WorkspaceID).Scan(&ws.Timezone); err != nil {
		return store.NotFound(err, "workspace")
	}
	ws.ID = a.WorkspaceID
	accounts, failure := s.automationTargets(ctx, tenant, a)
	var text string
	if failure == "" {
		t, err := parseTemplate(a.Template)
		if err == nil {
			text, err = render(t, ev)
		}
		switch {
		case err != nil:
			failure = "the template failed on this item: " + templateError(err)
		case text == "":
			failure = "the template gave an empty post for this item"
		}
	}
	var media []Media
	var note string
	if failure == "" && a.AttachImage && ev.GetImageUrl() != "" {
		media, note = s.itemImage(ctx, tenant, a, ev.GetImageUrl())
	}
	if failure == "" {
		refusal, err := s.automationRefusal(ctx, text, accounts, media)
		if err != nil {
			return err // Publisher unreachable: the bus delivers again
		}
		if refusal != "" && len(media) > 0 {
			// A network that takes the text may refuse the image (its
			// size, its type): the post is still worth making, without it.
			if bare, err := s.automationRefusal(ctx, text, accounts, nil); err != nil {
				return err
			} else if bare == "" {
				media, refusal, note = nil, "", "made without the item's image: "+refusal
			}
		}
		failure = refusal
	}

	now := time.Now().UTC()
	post := Post{ID: id.New("post"), WorkspaceID: a.WorkspaceID, Text: text, Revision: 1, CreatedBy: a.CreatedBy, CreatedAt: now, UpdatedAt: now}
	item := AutomationItem{Key: ev.GetItemKey(), Title: ev.GetTitle(), Link: ev.GetLink(), Outcome: ItemFailed, Error: failure}
	if failure == "" {
		// Made all the same; the note says what was left out.
		item.Error = note
		item.PostID = post.ID
		if a.Action == ActionQueue {
			item.Outcome = ItemQueued
			plan{kind: KindQueue, queueID: a.QueueID, evergreen: a.Evergreen, zone: ws.Timezone}.apply(&post)
		} else {
			item.Outcome = ItemDraft
			plan{kind: KindDraft, zone: ws.Timezone}.apply(&post)
		}
	}
	// Under an approval policy a post the automation would queue waits for
	// its approvers like any other; a draft waits for a person anyway.
	policy, err := approvalPolicy(ctx, s.db, tenant, a.WorkspaceID)
	if err != nil {
		return err
	}
	review := failure == "" && post.Kind == KindQueue && policy != PolicyNone
	if review {
		post.Status = PostPendingApproval
	}
	acted := false
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		acted = false
		first, err := s.outbox.FirstDelivery(ctx, tx, m.ID)
		if err != nil || !first {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO portal_automation_items (automation_id, item_key, agency_id, title, link, post_id, outcome, error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (automation_id, item_key) DO NOTHING`,
			a.ID, item.Key, tenant, truncateBytes(item.Title, 500), truncateBytes(item.Link, maxFeedURL), item.PostID, item.Outcome, item.Error, store.ToMicros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || failure != "" {
			return nil
		}
		acted = true
		s.markStale(ctx, tx, postsScope(tenant, post.WorkspaceID))
		if err := insertPost(ctx, tx, tenant, post, accounts, media); err != nil {
			return err
		}
		if review {
			// Submitted in the automation's name, on behalf of whoever
			// set it up.
			by := &Principal{AgencyID: tenant, UserID: a.CreatedBy, Name: "Automation " + a.Name}
			if err := s.submitForApproval(ctx, tx, by, post, policy, false, now); err != nil {
				return err
			}
		}
		// In the post's transaction: the team hears of exactly the posts
		// that exist.
		_, err = s.outbox.Add(ctx, tx, bus.TopicFeedDraftsCreated, &eventsv1.FeedDraftsCreated{
			TenantId: tenant, WorkspaceId: a.WorkspaceID, AutomationId: a.ID, AutomationName: a.Name,
			PostIds: []string{post.ID}, Queued: post.Kind == KindQueue, CreatedAt: timestamppb.New(now),
		})
		return err
	})
	if err != nil || !acted || post.Kind != KindQueue || review {
		return err
	}
	sch, err := s.schedule(ctx, tenant, post)
	switch {
	case err == nil:
		s.markSynced(ctx, tenant, post, sch)
	case triggerRefusal(err, KindQueue) != nil:
		// The queue went away or changed: the post is kept as a draft for
		// someone to place.
		s.log.Warn("automation: the queue refused a post; keeping it as a draft", "automation_id", a.ID, "post_id", post.ID, "err", err)
		if err := s.keepAsDraft(ctx, tenant, post.ID, post.Revision); err != nil {
			return fmt.Errorf("portal: keeping an automation's post as a draft: %w", err)
		}
		_, _ = s.db.Exec(ctx, `UPDATE portal_automation_items SET outcome = ?, error = ? WHERE automation_id = ? AND item_key = ?`,
			ItemDraft, "the queue refused it: "+errs.PublicMessage(err), a.ID, item.Key)
	default:
		// Unsynced: the resync loop hands it to Trigger.
		s.log.Warn("automation: trigger unavailable; the post waits for resync", "post_id", post.ID, "err", err)
	}
	return nil
}

// automationRefusal says why the networks would refuse an automation's
// post ("" when none would); an error when they cannot be asked.
func (s *Service) automationRefusal(ctx context.Context, text string, accounts []targetAccount, media []Media) (string, error) {
	var v errs.Fields
	checkText(&v, text)
	if len(v) == 0 {
		if err := s.validateContent(ctx, &v, text, accounts, media); err != nil {
			return "", err
		}
	}
	for _, f := range slices.Sorted(maps.Keys(v)) {
		return "the post would be refused: " + v[f], nil
	}
	return "", nil
}

// itemImage fetches a feed item's image into the workspace's library, in
// the name of the automation's author; on failure the post goes without
// it, and the note says why.
func (s *Service) itemImage(ctx context.Context, agencyID string, a Automation, imageURL string) ([]Media, string) {
	m, err := s.fetchIntoLibrary(ctx, agencyID, a.CreatedBy, a.WorkspaceID, imageURL)
	if err != nil {
		s.log.Warn("automation: the item's image could not be attached", "automation_id", a.ID, "url", imageURL, "err", err)
		return nil, "made without the item's image: " + errs.PublicMessage(err)
	}
	return []Media{m}, ""
}

// automationTargets loads the automation's accounts that still exist; a
// failure reason when none does.
func (s *Service) automationTargets(ctx context.Context, agencyID string, a Automation) ([]targetAccount, string) {
	var out []targetAccount
	for _, acc := range a.AccountIDs {
		var network string
		err := s.db.QueryRow(ctx, `SELECT network FROM portal_accounts WHERE agency_id = ? AND workspace_id = ? AND id = ?`,
			agencyID, a.WorkspaceID, acc).Scan(&network)
		if err == nil {
			out = append(out, targetAccount{id: acc, network: network})
		}
	}
	if len(out) == 0 {
		return nil, "none of the automation's accounts is connected any more"
	}
	return out, ""
}

// truncateBytes cuts s to at most n bytes on a character boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keepAsDraft turns a queued post Trigger refuses (its queue is gone) into a
// draft, so that what was written waits for someone rather than being lost
// or re-sent forever.
func (s *Service) keepAsDraft(ctx context.Context, agencyID, postID string, revision int64) error {
	_, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE portal_posts SET kind = ?, status = ?, queue_id = '', evergreen = ?, held = ?,
			scheduled_at = 0, local_time = '', schedule_synced = ?, updated_at = ?
		WHERE agency_id = ? AND id = ? AND revision = ? AND kind = ?`,
		KindDraft, PostDraft, false, false, true, store.ToMicros(time.Now()), agencyID, postID, revision, KindQueue)
	s.postStaleNow(ctx, agencyID, postID)
	return err
}
