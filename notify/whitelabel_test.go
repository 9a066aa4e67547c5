package notify

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/bus"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// headers returns a mailpit message's headers.
func (m mailpit) headers(t *testing.T, msgID string) map[string][]string {
	t.Helper()
	var h map[string][]string
	m.get(t, "/api/v1/message/"+url.PathEscape(msgID)+"/headers", &h)
	return h
}

func TestWhiteLabelledEmailWithOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	mp := requireMailpit(t)
	b := setup(t, func(c *Config) {
		c.SMTP = "smtp://" + mp.smtp + "?tls=none"
		c.From = "Herald <herald@herald.test>"
		c.BaseURL = "https://portal.acme.example"
	})
	to := uniqueAddress("branded")
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: to, Name: "Ada", Role: roleManager})
	b.portal.setBranding("ten_a", "ws_1", &portalv1.Branding{Name: "Acme Social", LogoUrl: "https://cdn.acme.example/logo.png",
		PrimaryColor: "#aa3300", SenderName: "Acme Alerts", HidePoweredBy: true})
	if err := b.deliver(t, id.New("evt"), bus.TopicPostFailed, failed("ten_a", "ws_1")); err != nil {
		t.Fatal(err)
	}
	msgs := mp.waitMail(t, to, 1)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	h := mp.headers(t, m.ID)
	var listUnsub, listPost string
	if v := h["List-Unsubscribe"]; len(v) == 1 {
		listUnsub = v[0]
	}
	if v := h["List-Unsubscribe-Post"]; len(v) == 1 {
		listPost = v[0]
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"sender name is the agency's, address Herald's", m.From.Name == "Acme Alerts" && m.From.Address == "herald@herald.test"},
		{"html has the logo", strings.Contains(m.HTML, `src="https://cdn.acme.example/logo.png"`) && strings.Contains(m.HTML, `alt="Acme Social"`)},
		{"html has the colour", strings.Contains(m.HTML, "background: #aa3300")},
		{"powered by is hidden", !strings.Contains(m.HTML, "Powered by Herald") && !strings.Contains(m.Text, "Powered by Herald")},
		{"text is signed by the agency", strings.Contains(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\nAcme Social\n")},
		{"text and html carry the unsubscribe link", strings.Contains(m.Text, "https://portal.acme.example/unsubscribe?token=") &&
			strings.Contains(m.HTML, `href="https://portal.acme.example/unsubscribe?token=`)},
		{"List-Unsubscribe is the link in brackets", strings.HasPrefix(listUnsub, "<https://portal.acme.example/unsubscribe?token=") && strings.HasSuffix(listUnsub, ">")},
		{"List-Unsubscribe-Post is one-click", listPost == "List-Unsubscribe=One-Click"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: wrong in headers %v and %+v", c.what, h, m)
		}
	}

	// The header's link works without signing in: Portal's page hands
	// its token to Unsubscribe.
	u, err := url.Parse(strings.Trim(listUnsub, "<>"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.svc.Unsubscribe(context.Background(), &notificationv1.UnsubscribeRequest{Token: u.Query().Get("token")})
	if err != nil || res.UserId != "usr_1" || res.Category != bus.TopicPostFailed {
		t.Fatalf("unsubscribing with the header's link: %v, %v", res, err)
	}
	if err := b.deliver(t, id.New("evt"), bus.TopicPostFailed, failed("ten_a", "ws_1")); err != nil {
		t.Fatal(err)
	}
	if n := len(b.emails(t)); n != 1 {
		t.Errorf("%d emails after unsubscribing, want only the first", n)
	}
}

func TestDefaultBrandingShowsPoweredBy(t *testing.T) {
	t.Parallel()
	e, err := renderEmail(failedNotice(failed("t", "w")), brandOf(&portalv1.Branding{PrimaryColor: "red; background: url(x)", LogoUrl: "http://plain.example/logo.png"}),
		"https://h.example", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.html, "Powered by Herald") || !strings.Contains(e.html, defaultColor) || strings.Contains(e.html, "url(x)") ||
		strings.Contains(e.html, "plain.example") || strings.Contains(e.html, "Unsubscribe") {
		t.Errorf("default branding:\n%s", e.html)
	}
}
