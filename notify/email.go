package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"
	texttemplate "text/template"

	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

// brand is how an agency's emails look (white label). It is kept with each
// queued email, so a digest made later wears the look the agency had.
type brand struct {
	Name          string `json:"name"`
	LogoURL       string `json:"logo_url,omitempty"`
	Color         string `json:"color"`
	SenderName    string `json:"sender_name,omitempty"`
	HidePoweredBy bool   `json:"hide_powered_by,omitempty"`
	// named: the agency has a name (Name is not the default).
	named bool
}

const defaultColor = "#2f5bd3"

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// brandOf reads Portal's branding, keeping only what is safe to put in an
// email: an https logo and a plain colour.
func brandOf(b *portalv1.Branding) brand {
	out := brand{
		Name:          firstWords(b.GetName(), 100),
		SenderName:    firstWords(b.GetSenderName(), 100),
		Color:         b.GetPrimaryColor(),
		HidePoweredBy: b.GetHidePoweredBy(),
	}
	out.named = out.Name != ""
	if !out.named {
		out.Name = "Herald"
	}
	if !hexColor.MatchString(out.Color) {
		out.Color = defaultColor
	}
	if u := safeURL(b.GetLogoUrl()); strings.HasPrefix(u, "https://") {
		out.LogoURL = u
	}
	return out
}

// sender is the display name emails are sent under: the agency's sender
// name or name; empty for an agency without either, whose emails keep the
// configured sender's name.
func (b brand) sender() string {
	if b.SenderName != "" {
		return b.SenderName
	}
	if b.named {
		return b.Name
	}
	return ""
}

func (b brand) encode() string {
	j, _ := json.Marshal(b)
	return string(j)
}

func decodeBrand(s string) brand {
	var b brand
	if s == "" || json.Unmarshal([]byte(s), &b) != nil {
		return brandOf(nil)
	}
	// Stored by this service, but checked again: it ends up in HTML.
	return brandOf(&portalv1.Branding{Name: b.Name, LogoUrl: b.LogoURL, PrimaryColor: b.Color, SenderName: b.SenderName, HidePoweredBy: b.HidePoweredBy})
}

// email is one rendered email.
type email struct {
	subject string
	text    string
	html    string
}

// emailItem is one notice in an email (a digest has several).
type emailItem struct {
	Title, Body, Link, ExtURL string
	LinkText                  string
}

// emailData is what the templates see.
type emailData struct {
	Brand     brand
	Name      string
	Intro     string
	Items     []emailItem
	Unsub     string // the category's one-click unsubscribe page; empty for none
	UnsubWhat string
	Prefs     string // the preferences page
	Why       string
}

var emailHTML = htmltemplate.Must(htmltemplate.New("email").Parse(`<!DOCTYPE html>
<html><body style="margin: 0; padding: 0; background: #f4f4f6; font-family: sans-serif; line-height: 1.45; color: #222">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding: 24px 12px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width: 600px; background: #ffffff; border-radius: 6px">
<tr><td style="background: {{.Brand.Color}}; color: #ffffff; padding: 16px 24px; border-radius: 6px 6px 0 0">
{{if .Brand.LogoURL}}<img src="{{.Brand.LogoURL}}" alt="{{.Brand.Name}}" height="32" style="vertical-align: middle; border: 0">{{else}}<strong style="font-size: 18px">{{.Brand.Name}}</strong>{{end}}
</td></tr>
<tr><td style="padding: 24px">
{{if .Name}}<p>Hi {{.Name}},</p>{{end}}
{{if .Intro}}<p>{{.Intro}}</p>{{end}}
{{range .Items}}<div style="margin: 0 0 20px">
<p style="margin: 0 0 6px"><strong>{{.Title}}</strong></p>
<p style="margin: 0 0 10px">{{.Body}}</p>
<p style="margin: 0"><a href="{{.Link}}" style="display: inline-block; background: {{$.Brand.Color}}; color: #ffffff; text-decoration: none; padding: 8px 14px; border-radius: 4px">{{.LinkText}}</a>{{if .ExtURL}} &nbsp; <a href="{{.ExtURL}}" style="color: {{$.Brand.Color}}">View the post</a>{{end}}</p>
</div>{{end}}
</td></tr>
<tr><td style="padding: 16px 24px; color: #777; font-size: 12px; border-top: 1px solid #eee">
<p style="margin: 0 0 6px">{{.Why}}</p>
<p style="margin: 0">{{if .Unsub}}<a href="{{.Unsub}}" style="color: #777">Unsubscribe from {{.UnsubWhat}}</a>{{end}}{{if and .Unsub .Prefs}} · {{end}}{{if .Prefs}}<a href="{{.Prefs}}" style="color: #777">Notification preferences</a>{{end}}</p>
{{if not .Brand.HidePoweredBy}}<p style="margin: 6px 0 0">Powered by Herald</p>{{end}}
</td></tr>
</table></td></tr></table>
</body></html>
`))

var emailText = texttemplate.Must(texttemplate.New("email").Parse(`{{if .Name}}Hi {{.Name}},

{{end}}{{if .Intro}}{{.Intro}}

{{end}}{{range .Items}}{{.Title}}

{{.Body}}

{{.LinkText}}: {{.Link}}
{{if .ExtURL}}View the post: {{.ExtURL}}
{{end}}
{{end}}-- 
{{.Brand.Name}}
{{.Why}}
{{if .Unsub}}Unsubscribe from {{.UnsubWhat}}: {{.Unsub}}
{{end}}{{if .Prefs}}Notification preferences: {{.Prefs}}
{{end}}{{if not .Brand.HidePoweredBy}}Powered by Herald
{{end}}`))

func renderTemplates(subject string, d emailData) (email, error) {
	d.Name = oneLine(d.Name)
	var text, html bytes.Buffer
	if err := emailText.Execute(&text, d); err != nil {
		return email{}, fmt.Errorf("notify: rendering email text: %w", err)
	}
	if err := emailHTML.Execute(&html, d); err != nil {
		return email{}, fmt.Errorf("notify: rendering email html: %w", err)
	}
	return email{subject: oneLine(subject), text: text.String(), html: html.String()}, nil
}

// item is n as one entry of an email. Links in notices are paths in the
// web UI, except an invitation's, which is already absolute.
func (n notice) item(baseURL string) emailItem {
	link := n.link
	if !strings.HasPrefix(link, "https://") && !strings.HasPrefix(link, "http://") {
		link = baseURL + link
	}
	text := "Open"
	if n.inviteEmail != "" {
		text = "Accept the invitation"
	}
	return emailItem{Title: n.title, Body: n.body, Link: link, ExtURL: n.extURL, LinkText: text}
}

// renderEmail writes the email telling one recipient about n; unsub is the
// recipient's unsubscribe link for n's kind (empty: none).
func renderEmail(n notice, b brand, baseURL, name, unsub string) (email, error) {
	d := emailData{
		Brand: b, Name: name, Items: []emailItem{n.item(baseURL)},
		Unsub: unsub, UnsubWhat: "“" + kindLabel(n.kind) + "” emails",
		Why: "You receive this because you are a member of a workspace of " + b.Name + ".",
	}
	if n.inviteEmail != "" {
		d.Why = "You receive this because someone at " + b.Name + " invited this address. If you did not expect it, ignore this email."
	} else {
		d.Prefs = baseURL + prefsPath
	}
	return renderTemplates(n.subject, d)
}

// prefsPath is Portal's page where users choose their notifications.
const prefsPath = "/settings/notifications"

// kindLabel names a kind of event to people.
func kindLabel(kind string) string {
	if l, ok := kindLabels[kind]; ok {
		return l
	}
	return kind
}

var kindLabels = map[string]string{
	"post.published":              "Post published",
	"post.failed":                 "Post failed",
	"account.needs_reconnect":     "Account needs reconnecting",
	"account.credential_expiring": "Account access expiring",
	"approval.requested":          "Approval requested",
	"approval.decided":            "Approval decided",
	"approval.commented":          "Comment on a post under review",
	"feed.drafts_created":         "Posts created from a feed",
	"queue.running_empty":         "Queue running empty",
	categoryAll:                   "all notification",
}
