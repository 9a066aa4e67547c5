package portal

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/errs"
	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// Schedule kinds of a post: how Trigger fires it.
const (
	// KindOnce fires once at ScheduledAt.
	KindOnce = "once"
	// KindRecurring fires at every occurrence of an RRULE in a zone.
	KindRecurring = "recurring"
	// KindQueue takes the next free slot of an evergreen queue.
	KindQueue = "queue"
	// KindDraft has no schedule: the post is a draft.
	KindDraft = "draft"
)

// repeating reports whether a post of this kind may fire more than once
// (an evergreen queued post is recycled), so that each firing is published
// and recorded on its own.
func repeating(kind string) bool { return kind == KindRecurring || kind == KindQueue }

// Limits of a recurrence's input.
const (
	maxRRuleBytes  = 1000
	maxExceptions  = 1000
	maxSkipLate    = 366 * 24 * time.Hour
	triggerWallFmt = "2006-01-02T15:04:05"
)

// RepeatInput is a recurring schedule as the user gives it.
type RepeatInput struct {
	// RRule is an RFC 5545 RRULE body, e.g. "FREQ=WEEKLY;BYDAY=MO;COUNT=10".
	RRule string
	// Zone is an IANA zone; empty means the workspace's.
	Zone string
	// StartLocal is the first occurrence's wall time in Zone (the rule's
	// DTSTART), "2026-12-01T09:30".
	StartLocal string
	// Exceptions are occurrences to skip, as wall times in Zone.
	Exceptions []string
	// SkipIfLaterThan is a duration ("2h"): after downtime an occurrence
	// later than this is skipped rather than published late. Empty or "0"
	// publishes it however late.
	SkipIfLaterThan string
}

// When says how a post is scheduled: exactly one of its parts is given.
type When struct {
	ScheduledAt *string
	PublishNow  bool
	Repeat      *RepeatInput
	QueueID     *string
	Evergreen   bool
	Draft       bool
	// SkipIfLaterThan is a one-shot post's late limit (a duration such as
	// "2h"; a recurrence has its own); only with ScheduledAt.
	SkipIfLaterThan *string
}

// given reports whether any part is set.
func (w When) given() bool {
	return w.ScheduledAt != nil || w.PublishNow || w.Repeat != nil || w.QueueID != nil || w.Draft
}

// plan is a validated When, in the form stored on the post.
type plan struct {
	kind string
	// at is the instant of a one-shot post; for a recurring one the start,
	// until Trigger answers with the first occurrence; zero when queued.
	at                time.Time
	local, zone       string
	rrule, startLocal string
	exdates           []string
	skipLate          time.Duration
	queueID           string
	evergreen         bool
}

// apply copies the plan onto a post.
func (pl plan) apply(p *Post) {
	p.Kind, p.ScheduledAt, p.LocalTime, p.Zone = pl.kind, pl.at.UTC(), pl.local, pl.zone
	if pl.at.IsZero() {
		p.ScheduledAt = time.Time{}
	}
	p.RRule, p.StartLocal, p.Exceptions, p.SkipLate = pl.rrule, pl.startLocal, pl.exdates, pl.skipLate
	p.QueueID, p.Evergreen = pl.queueID, pl.evergreen
	p.Status = PostScheduled
	if pl.kind == KindDraft {
		p.Status = PostDraft
	}
}

// planWhen validates how a post is to be scheduled, in the workspace's
// zone loc unless a recurrence names its own.
func (s *Service) planWhen(ctx context.Context, v *errs.Fields, agencyID string, ws Workspace, w When, loc *time.Location, now time.Time) (plan, bool) {
	var parts []string
	if w.ScheduledAt != nil && strings.TrimSpace(*w.ScheduledAt) != "" {
		parts = append(parts, "scheduled_at")
	}
	if w.PublishNow {
		parts = append(parts, "publish_now")
	}
	if w.Repeat != nil {
		parts = append(parts, "repeat")
	}
	if w.QueueID != nil {
		parts = append(parts, "queue_id")
	}
	if w.Draft {
		parts = append(parts, "draft")
	}
	if len(parts) > 1 {
		v.Add(parts[1], "cannot be combined with %s", parts[0])
		return plan{}, false
	}
	if w.Evergreen && w.QueueID == nil {
		v.Add("evergreen", "is only for a post added to a queue (with queue_id)")
		return plan{}, false
	}
	var skipLate time.Duration
	if w.SkipIfLaterThan != nil && strings.TrimSpace(*w.SkipIfLaterThan) != "" {
		if w.ScheduledAt == nil || strings.TrimSpace(*w.ScheduledAt) == "" {
			v.Add("skip_if_later_than", "is only for a post scheduled at a time (with scheduled_at); a repeating post has repeat.skip_if_later_than")
			return plan{}, false
		}
		var ok bool
		if skipLate, ok = parseSkipLate(v, "skip_if_later_than", *w.SkipIfLaterThan); !ok {
			return plan{}, false
		}
	}
	switch {
	case w.Draft:
		return plan{kind: KindDraft, zone: ws.Timezone}, true
	case w.Repeat != nil:
		return planRepeat(v, *w.Repeat, ws)
	case w.QueueID != nil:
		return s.planQueue(ctx, v, agencyID, ws, strings.TrimSpace(*w.QueueID), w.Evergreen)
	}
	at, ok := scheduleTime(v, w.ScheduledAt, w.PublishNow, loc, now)
	if !ok {
		return plan{}, false
	}
	return plan{kind: KindOnce, at: at, local: formatWall(at), zone: ws.Timezone, skipLate: skipLate}, true
}

// parseSkipLate reads a late limit given as a duration ("30m", "2h").
func parseSkipLate(v *errs.Fields, field, in string) (time.Duration, bool) {
	dur, err := time.ParseDuration(strings.TrimSpace(in))
	switch {
	case err != nil:
		v.Add(field, "must be a duration such as 30m or 2h")
	case dur < 0 || dur > maxSkipLate:
		v.Add(field, "must be from 0 to 366 days")
	default:
		return dur, true
	}
	return 0, false
}

// planRepeat checks what Portal can check of a recurrence; Trigger checks
// the rule itself (that it parses, fires, and at most once a minute).
func planRepeat(v *errs.Fields, r RepeatInput, ws Workspace) (plan, bool) {
	before := len(*v)
	pl := plan{kind: KindRecurring}
	pl.rrule = strings.TrimPrefix(strings.TrimSpace(r.RRule), "RRULE:")
	switch {
	case pl.rrule == "":
		v.Add("repeat.rrule", "is required, e.g. FREQ=WEEKLY;BYDAY=MO,WE")
	case len(pl.rrule) > maxRRuleBytes:
		v.Add("repeat.rrule", "must be at most %d bytes", maxRRuleBytes)
	}
	pl.zone = strings.TrimSpace(r.Zone)
	if pl.zone == "" {
		pl.zone = ws.Timezone
	}
	loc, err := time.LoadLocation(pl.zone)
	if err != nil || pl.zone == "Local" {
		v.Add("repeat.zone", "is not a known IANA zone name such as Europe/Paris")
		loc = nil
	}
	start, err := parseWall(strings.TrimSpace(r.StartLocal))
	if strings.TrimSpace(r.StartLocal) == "" {
		v.Add("repeat.start_local", "is required: the first occurrence's local date and time, like 2026-12-01T09:30")
	} else if err != nil {
		v.Add("repeat.start_local", "%s", err.Error())
	} else {
		pl.startLocal = start.Format(triggerWallFmt)
		pl.local = formatWall(start)
		if loc != nil {
			// A placeholder until Trigger names the first occurrence.
			pl.at = time.Date(start.Year(), start.Month(), start.Day(), start.Hour(), start.Minute(), start.Second(), 0, loc)
		}
	}
	if len(r.Exceptions) > maxExceptions {
		v.Add("repeat.exceptions", "must hold at most %d dates", maxExceptions)
	} else {
		for i, x := range r.Exceptions {
			t, err := parseWall(strings.TrimSpace(x))
			if err != nil {
				v.Add("repeat.exceptions["+strconv.Itoa(i)+"]", "%s", err.Error())
				continue
			}
			pl.exdates = append(pl.exdates, t.Format(triggerWallFmt))
		}
	}
	if d := strings.TrimSpace(r.SkipIfLaterThan); d != "" {
		pl.skipLate, _ = parseSkipLate(v, "repeat.skip_if_later_than", d)
	}
	return pl, len(*v) == before
}

// scheduleRequest is what Trigger is asked for a post's current revision.
func scheduleRequest(agencyID string, p Post) *triggerv1.ScheduleRequest {
	req := &triggerv1.ScheduleRequest{ScheduleId: p.ID, TenantId: agencyID, PostId: p.ID, Revision: p.Revision}
	switch p.Kind {
	case KindRecurring:
		req.Rrule, req.StartLocal, req.ExdatesLocal, req.Zone = p.RRule, p.StartLocal, p.Exceptions, p.Zone
		if p.SkipLate > 0 {
			req.SkipIfLaterThan = durationpb.New(p.SkipLate)
		}
	case KindQueue:
		// A queued post's time and zone are its queue's.
		req.QueueId, req.Evergreen = p.QueueID, p.Evergreen
	default:
		req.DueAt, req.Zone = timestamppb.New(p.ScheduledAt), p.Zone
		if p.SkipLate > 0 {
			req.SkipIfLaterThan = durationpb.New(p.SkipLate)
		}
	}
	return req
}

// triggerFields maps the fields of a ScheduleRequest Trigger refused to
// the fields of Portal's input, by schedule kind.
var triggerFields = map[string]map[string]string{
	KindOnce: {"due_at": "scheduled_at", "zone": "scheduled_at", "skip_if_later_than": "skip_if_later_than"},
	KindRecurring: {"rrule": "repeat.rrule", "zone": "repeat.zone", "start_local": "repeat.start_local",
		"exdates_local": "repeat.exceptions", "skip_if_later_than": "repeat.skip_if_later_than", "due_at": "repeat.rrule"},
	KindQueue: {"queue_id": "queue_id", "evergreen": "evergreen", "zone": "queue_id"},
}

// triggerRefusal turns Trigger's refusal of a request made from user input
// into field errors of that input, or returns nil when the error is not
// such a refusal (Trigger unreachable, or a field the user did not give).
func triggerRefusal(err error, kind string) error {
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid || len(e.Fields) == 0 {
		return nil
	}
	names := triggerFields[kind]
	var v errs.Fields
	for f, msg := range e.Fields {
		base, rest := f, ""
		if i := strings.IndexByte(f, '['); i > 0 {
			base, rest = f[:i], f[i:]
		}
		to, ok := names[base]
		if !ok {
			return nil
		}
		v.Add(to+rest, "%s", msg)
	}
	return v.Err()
}

// describeTriggerError is the error a user sees when Trigger did not take a
// post's schedule: its field errors when it refused the input, a conflict
// as it is, else Unavailable with unavailable.
func describeTriggerError(err error, kind, unavailable string) error {
	if ref := triggerRefusal(err, kind); ref != nil {
		return ref
	}
	if errs.Is(err, errs.Conflict) || errs.Is(err, errs.NotFound) {
		return err
	}
	return errs.Wrap(err, errs.Unavailable, unavailable)
}

// nextFromSchedule is where Trigger put a recurring or queued post: its next
// firing as an instant and a wall time in the zone it is evaluated in.
func nextFromSchedule(p Post, sch *triggerv1.Schedule) (at time.Time, local, zone string, ok bool) {
	if sch == nil || sch.GetDueAt() == nil || !repeating(p.Kind) {
		return time.Time{}, "", "", false
	}
	zone = p.Zone
	if z := sch.GetZone(); z != "" {
		zone = z
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, "", "", false
	}
	at = sch.GetDueAt().AsTime().In(loc)
	return at, formatWall(at), zone, true
}

func joinLines(xs []string) string { return strings.Join(xs, "\n") }

func splitLines(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// describeRepeat is a short description of a recurrence for people.
func describeRepeat(rrule string) string {
	parts := map[string]string{}
	for p := range strings.SplitSeq(rrule, ";") {
		k, val, _ := strings.Cut(p, "=")
		parts[strings.ToUpper(k)] = val
	}
	var b strings.Builder
	switch parts["FREQ"] {
	case "DAILY":
		b.WriteString("Every day")
	case "WEEKLY":
		b.WriteString("Every week")
		if d := parts["BYDAY"]; d != "" {
			b.WriteString(" on " + strings.ReplaceAll(d, ",", ", "))
		}
	case "MONTHLY":
		b.WriteString("Every month")
	case "YEARLY":
		b.WriteString("Every year")
	default:
		return "Repeats: " + rrule
	}
	if n := parts["INTERVAL"]; n != "" && n != "1" {
		fmt.Fprintf(&b, " (every %s)", n)
	}
	if n := parts["COUNT"]; n != "" {
		fmt.Fprintf(&b, ", %s times", n)
	}
	if u := parts["UNTIL"]; u != "" {
		if t, err := time.Parse("20060102T150405Z", u); err == nil {
			b.WriteString(", until " + t.Format("2 Jan 2006"))
		}
	}
	return b.String()
}
