package portal

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/errs"
)

// This file holds what the UI's templates see: form state with its errors,
// the time zone list and the small formatting helpers.

// form is what a user typed into a form and what was wrong with it, so a
// refused form comes back as they left it, each problem beside its field.
type form struct {
	Values url.Values
	// Errors by input name, already phrased for people.
	Errors map[string]string
	// Error is a problem with the form as a whole (or with something it has
	// no input for).
	Error string
}

// secretFields are never sent back into a page.
var secretFields = map[string]bool{"password": true, "access_token": true, "csrf_token": true}

// newForm keeps what was posted, less the secrets.
func newForm(r *http.Request) *form {
	v := url.Values{}
	for k, vs := range r.PostForm {
		if !secretFields[k] {
			v[k] = vs
		}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

// Get is the value typed into an input ("" on a fresh form).
func (f *form) Get(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// Has reports whether a checkbox, radio button or option with this value
// was chosen.
func (f *form) Has(name, value string) bool {
	if f == nil {
		return false
	}
	for _, v := range f.Values[name] {
		if v == value {
			return true
		}
	}
	return false
}

// Sent reports whether this form was sent (and came back refused).
func (f *form) Sent() bool { return f != nil }

// Err is the problem with an input, or "".
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// fieldLabels name the inputs in messages. A list input with an index
// ("account_ids[1]") is one of the chosen items.
var fieldLabels = map[string][2]string{
	"agency_name":  {"Agency name", ""},
	"name":         {"Name", ""},
	"email":        {"Email", ""},
	"password":     {"Password", ""},
	"timezone":     {"Time zone", ""},
	"text":         {"Text", ""},
	"scheduled_at": {"Date and time", ""},
	"publish_now":  {"Publish now", ""},
	"account_ids":  {"Accounts", "One of the chosen accounts"},
	"media_ids":    {"Images", "One of the chosen images"},
	"network":      {"Network", ""},
	"instance_url": {"Server address", ""},
	"access_token": {"Access token", ""},
	"code":         {"Authorization", ""},
	"file":         {"File", ""},
	"description":  {"Description", ""},
	"role":         {"Role", ""},
	"when":         {"When", ""},
	"repeat_rrule": {"The repeat rule", ""},
	"repeat_days":  {"Days", ""},
	"repeat_count": {"Number of times", ""},
	"repeat_until": {"Last day", ""},
	// An exception names one of the skipped dates.
	"repeat_skip_dates": {"Skipped dates", "One of the skipped dates"},
	"skip_late":         {"Late limit", ""},
	"queue_id":          {"Queue", ""},
	"evergreen":         {"Evergreen", ""},
	"slots":             {"Weekly slots", "One of the slots"},
	"zone":              {"Time zone", ""},
	"min_gap_days":      {"The gap", ""},
	"max_repeats":       {"Repeats", ""},
	"feed_url":          {"Feed address", ""},
	"interval":          {"Check every", ""},
	"backfill":          {"Latest items", ""},
	"template":          {"The template", ""},
	"action":            {"For each new item", ""},
}

// fail records a refused form: field problems go beside the inputs named in
// inputs, anything else to the top of the form. An error that is not the
// user's to fix (an internal one) is returned for an error page.
func (f *form) fail(err error, inputs ...string) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal {
		return err
	}
	known := map[string]bool{}
	for _, in := range inputs {
		known[in] = true
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rest []string
	for _, k := range keys {
		base, indexed := k, false
		if i := strings.IndexAny(k, "[."); i > 0 {
			base, indexed = k[:i], true
		}
		msg := fieldMessage(base, indexed, e.Fields[k])
		if !known[base] {
			rest = append(rest, msg)
			continue
		}
		if prev := f.Errors[base]; prev != "" {
			msg = prev + " " + msg
		}
		f.Errors[base] = msg
	}
	switch {
	case len(rest) > 0:
		f.Error = strings.Join(rest, " ")
	case len(e.Fields) == 0:
		f.Error = sentence(errs.PublicMessage(err))
	}
	return nil
}

// fieldMessage phrases a field's problem as a sentence. Domain messages
// are either predicates ("is required", "must be at most 100 characters"),
// which get the field's name in front, or sentences of their own ("choose
// at least one account").
func fieldMessage(field string, indexed bool, msg string) string {
	label := fieldLabels[field]
	subject := label[0]
	if indexed && label[1] != "" {
		subject = label[1]
	}
	if subject == "" {
		subject = strings.ReplaceAll(field, "_", " ")
	}
	for _, verb := range []string{"is ", "are ", "must ", "was ", "has ", "cannot ", "could ", "should ", "does "} {
		if strings.HasPrefix(msg, verb) {
			return sentence(subject + " " + msg)
		}
	}
	return sentence(msg)
}

// sentence capitalizes a message and ends it with a full stop.
func sentence(s string) string {
	s = capitalize(strings.TrimSpace(s))
	if s != "" && !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// --- time zones ---

// zoneGroup is the zones of one region, for an <optgroup>.
type zoneGroup struct {
	Region string
	Zones  []zoneOption
}

type zoneOption struct {
	Name  string // "America/Argentina/Buenos_Aires"
	Label string // "Argentina/Buenos Aires"
	loc   *time.Location
}

// Offset is the zone's UTC offset now, as "UTC+01:00".
func (z zoneOption) Offset() string { return utcOffset(time.Now().In(z.loc)) }

func utcOffset(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("UTC%s%02d:%02d", sign, off/3600, off%3600/60)
}

// loadZones reads the embedded zone list, keeping the zones that load.
func loadZones() []zoneGroup {
	f, err := webFS.Open("web/zones.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var groups []zoneGroup
	idx := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue
		}
		region, city, ok := strings.Cut(name, "/")
		if !ok {
			region, city = "Universal", name
		}
		i, seen := idx[region]
		if !seen {
			i = len(groups)
			idx[region] = i
			groups = append(groups, zoneGroup{Region: region})
		}
		groups[i].Zones = append(groups[i].Zones, zoneOption{Name: name, Label: strings.ReplaceAll(city, "_", " "), loc: loc})
	}
	// UTC comes first: it is the default.
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Region == "Universal" && groups[j].Region != "Universal" })
	return groups
}

// --- labels and formatting ---

func statusLabel(status string) string {
	switch status {
	case PostDraft:
		return "Draft"
	case PostScheduled:
		return "Scheduled"
	case PostPublishing:
		return "Publishing"
	case PostPublished:
		return "Published"
	case PostFailed:
		return "Failed"
	case PostPartiallyFailed:
		return "Partly failed"
	case PostSkipped:
		return "Skipped"
	case PostPendingApproval:
		return "Waiting for approval"
	case PostApproved:
		return "Approved, needs a new time"
	case TargetPending:
		return "Pending"
	case AccountActive:
		return "Connected"
	case AccountNeedsReconnect:
		return "Needs reconnecting"
	}
	return strings.ReplaceAll(status, "_", " ")
}

func roleLabel(r Role) string {
	switch r {
	case RoleOwner:
		return "Owner"
	case RoleManager:
		return "Manager"
	case RoleClientApprover:
		return "Client approver"
	case RoleEditor:
		return "Editor"
	case RoleReadOnly:
		return "Read-only"
	}
	return string(r)
}

func networkLabel(n string) string {
	switch n {
	case "mastodon":
		return "Mastodon"
	case "bluesky":
		return "Bluesky"
	case "x":
		return "X"
	case "linkedin":
		return "LinkedIn"
	case "webhook":
		return "signed webhook"
	}
	return capitalize(n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// initials are the letters of a name's avatar.
func initials(name string) string {
	var out []rune
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r, _ := utf8.DecodeRuneInString(w)
		out = append(out, unicode.ToUpper(r))
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// inputView is one labelled input of a form, with its help and problem.
type inputView struct {
	ID, Name, Label, Type     string
	Value                     string
	Error                     string
	Help                      string
	Autocomplete, Placeholder string
	Optional                  bool
}

// Describe lists the ids of the texts that describe the input.
func (v inputView) Describe() string {
	var ids []string
	if v.Help != "" {
		ids = append(ids, v.ID+"-help")
	}
	if v.Error != "" {
		ids = append(ids, v.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// newInputView is the templates' "field" function:
//
//	{{template "input" (field .Form "email" "Email" "email" "login-email" "autocomplete=email")}}
//
// Options are "autocomplete=...", "placeholder=...", "help=..." and
// "optional". A password input never shows what was typed.
func newInputView(f *form, name, label, typ, id string, opts ...string) inputView {
	v := inputView{ID: id, Name: name, Label: label, Type: typ, Error: f.Err(name)}
	if typ != "password" {
		v.Value = f.Get(name)
	}
	for _, o := range opts {
		key, val, _ := strings.Cut(o, "=")
		switch key {
		case "autocomplete":
			v.Autocomplete = val
		case "placeholder":
			v.Placeholder = val
		case "help":
			v.Help = val
		case "optional":
			v.Optional = true
		case "value":
			if !f.Sent() {
				v.Value = val
			}
		default:
			panic("portal: unknown input option " + key)
		}
	}
	return v
}

// notificationClass is the style of a notification's kind.
func notificationClass(kind string) string {
	switch kind {
	case "post.published":
		return "ok"
	case "post.failed":
		return "bad"
	case "account.needs_reconnect":
		return "warn"
	}
	return "info"
}
