package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// mailpit is the SMTP server the email tests deliver to, with the HTTP API
// that shows what arrived. Other tests share it: each test finds its own
// messages by a recipient address no other test uses.
type mailpit struct {
	smtp string // host:port
	api  string // base URL
}

// findMailpit returns the test SMTP server, or why it cannot be reached.
func findMailpit() (mailpit, error) {
	m := mailpit{smtp: os.Getenv("HERALD_TEST_SMTP_ADDR"), api: os.Getenv("HERALD_TEST_MAILPIT_URL")}
	if m.smtp == "" {
		m.smtp = "127.0.0.1:1025"
	}
	if m.api == "" {
		m.api = "http://127.0.0.1:8025"
	}
	m.api = strings.TrimRight(m.api, "/")
	c, err := net.DialTimeout("tcp", m.smtp, 2*time.Second)
	if err != nil {
		return m, fmt.Errorf("mailpit SMTP at %s: %w", m.smtp, err)
	}
	c.Close()
	hc := http.Client{Timeout: 2 * time.Second}
	res, err := hc.Get(m.api + "/api/v1/messages?limit=1")
	if err != nil {
		return m, fmt.Errorf("mailpit API at %s: %w", m.api, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return m, fmt.Errorf("mailpit API at %s: status %d", m.api, res.StatusCode)
	}
	return m, nil
}

// requireMailpit skips the test when mailpit is not running, except in CI,
// where a missing server is a broken set-up.
func requireMailpit(t *testing.T) mailpit {
	t.Helper()
	m, err := findMailpit()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI must start it: scripts/test-infra.sh)", err)
		}
		t.Skipf("%v; start it with scripts/test-infra.sh", err)
	}
	return m
}

// mailpitMessage is the part of mailpit's message JSON the tests read.
type mailpitMessage struct {
	ID        string
	MessageID string
	Subject   string
	From      struct{ Name, Address string }
	To        []struct{ Name, Address string }
	Text      string
	HTML      string
}

// find returns the messages sent to addr, with their bodies.
func (m mailpit) find(t *testing.T, addr string) []mailpitMessage {
	t.Helper()
	var list struct{ Messages []mailpitMessage }
	m.get(t, "/api/v1/search?query="+url.QueryEscape(`to:"`+addr+`"`), &list)
	var out []mailpitMessage
	for _, s := range list.Messages {
		var full mailpitMessage
		m.get(t, "/api/v1/message/"+url.PathEscape(s.ID), &full)
		out = append(out, full)
	}
	return out
}

func (m mailpit) get(t *testing.T, path string, v any) {
	t.Helper()
	res, err := http.Get(m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: status %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
}

// remove deletes the test's messages, leaving the other tests' alone.
func (m mailpit) remove(t *testing.T, msgs []mailpitMessage) {
	var ids []string
	for _, msg := range msgs {
		ids = append(ids, msg.ID)
	}
	if len(ids) == 0 {
		return
	}
	body, _ := json.Marshal(map[string][]string{"IDs": ids})
	req, _ := http.NewRequest(http.MethodDelete, m.api+"/api/v1/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
}

// waitMail waits until addr has received want messages.
func (m mailpit) waitMail(t *testing.T, addr string, want int) []mailpitMessage {
	t.Helper()
	var got []mailpitMessage
	eventually(t, "mail to "+addr, func() (bool, string) {
		got = m.find(t, addr)
		return len(got) >= want, fmt.Sprintf("%d messages", len(got))
	})
	t.Cleanup(func() { m.remove(t, got) })
	return got
}

// uniqueAddress is an address no other test run uses.
func uniqueAddress(label string) string {
	return label + "-" + strings.TrimPrefix(id.New("x"), "x_") + "@herald.test"
}

func TestEmailIsSentThroughSMTP(t *testing.T) {
	t.Parallel()
	mp := requireMailpit(t)
	b := setup(t, func(c *Config) {
		c.SMTP = "smtp://" + mp.smtp + "?tls=none"
		c.From = "Herald Test <herald@herald.test>"
		c.BaseURL = "https://herald.example/"
	})
	to := uniqueAddress("sent")
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: to, Name: "Ada Lovelace"})
	ev := &eventsv1.PostFailed{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_42", Network: "mastodon",
		Reason: "<b>Too long</b> for this instance", Kind: "bad_content"}
	if err := b.deliver(t, id.New("evt"), bus.TopicPostFailed, ev); err != nil {
		t.Fatal(err)
	}

	msgs := mp.waitMail(t, to, 1)
	if len(msgs) != 1 {
		t.Fatalf("%d messages to %s, want 1", len(msgs), to)
	}
	m := msgs[0]
	link := "https://herald.example/workspaces/ws_1/posts/post_42"
	checks := []struct {
		what string
		ok   bool
	}{
		{"subject", m.Subject == "Failed to publish on Mastodon: <b>Too long</b> for this instance"},
		{"from", m.From.Address == "herald@herald.test" && m.From.Name == "Herald Test"},
		{"to", len(m.To) == 1 && m.To[0].Address == to && m.To[0].Name == "Ada Lovelace"},
		{"message id", strings.HasPrefix(m.MessageID, "eml_") && strings.HasSuffix(m.MessageID, "@herald.test")},
		{"text greets and links", strings.Contains(m.Text, "Hi Ada Lovelace,") && strings.Contains(m.Text, link) &&
			strings.Contains(m.Text, "Edit the post")},
		{"html links", strings.Contains(m.HTML, `href="`+link+`"`)},
		{"html escapes the reason", strings.Contains(m.HTML, "&lt;b&gt;Too long&lt;/b&gt;") && !strings.Contains(m.HTML, "<b>Too long")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s is wrong in %+v", c.what, m)
		}
	}
	eventually(t, "the email to be recorded as sent", func() (bool, string) {
		e := b.emails(t)
		return len(e) == 1 && e[0].status == statusSent && e[0].attempts == 1, describe(e)
	})
}

// flakySMTP stands in front of a real SMTP server and, while down, hangs up
// on every connection at once.
type flakySMTP struct {
	ln     net.Listener
	up     atomic.Bool
	target atomic.Value // string, the server it forwards to while up
	wg     sync.WaitGroup
}

func newFlakySMTP(t *testing.T) *flakySMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakySMTP{ln: ln}
	f.wg.Go(f.serve)
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *flakySMTP) addr() string { return f.ln.Addr().String() }

func (f *flakySMTP) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		target, _ := f.target.Load().(string)
		if !f.up.Load() || target == "" {
			c.Close()
			continue
		}
		f.wg.Go(func() {
			defer c.Close()
			s, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer s.Close()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			_, _ = io.Copy(c, s)
		})
	}
}

func TestEmailIsRetriedWhileSMTPIsDown(t *testing.T) {
	t.Parallel()
	smtp := newFlakySMTP(t)
	b := setup(t, func(c *Config) {
		c.SMTP = "smtp://" + smtp.addr() + "?tls=none"
		c.RetryMin, c.RetryMax = 20*time.Millisecond, 50*time.Millisecond
		c.MaxAttempts = 1000
	})
	to := uniqueAddress("retried")
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: to})
	if err := b.deliver(t, id.New("evt"), bus.TopicPostFailed, failed("ten_a", "ws_1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed attempts that keep the email pending", func() (bool, string) {
		e := b.emails(t)
		return len(e) == 1 && e[0].status == statusPending && e[0].attempts >= 3 && e[0].lastError != "", describe(e)
	})

	t.Run("sent once the server is back", func(t *testing.T) {
		mp := requireMailpit(t)
		smtp.target.Store(mp.smtp)
		smtp.up.Store(true)
		eventually(t, "the email to be sent", func() (bool, string) {
			e := b.emails(t)
			return len(e) == 1 && e[0].status == statusSent && e[0].lastError == "", describe(e)
		})
		if msgs := mp.waitMail(t, to, 1); len(msgs) != 1 || msgs[0].Subject != "Failed to publish on Mastodon: The instance refused it." {
			t.Errorf("mailpit holds %+v", msgs)
		}
	})
}

func TestEmailIsGivenUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	smtp := newFlakySMTP(t)
	b := setup(t, func(c *Config) {
		c.SMTP = "smtp://" + smtp.addr() + "?tls=none"
		c.RetryMin, c.RetryMax = 10*time.Millisecond, 10*time.Millisecond
		c.MaxAttempts = 3
	})
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: "dead@herald.test"})
	if err := b.deliver(t, id.New("evt"), bus.TopicPostFailed, failed("ten_a", "ws_1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the email to become a dead letter", func() (bool, string) {
		e := b.emails(t)
		return len(e) == 1 && e[0].status == statusFailed, describe(e)
	})
	if e := b.emails(t)[0]; e.attempts != 3 || e.lastError == "" {
		t.Errorf("dead letter %+v, want 3 attempts and the last error kept", e)
	}

	t.Run("listed, and sent again on request", func(t *testing.T) {
		ctx := context.Background()
		list, err := b.svc.ListFailedEmails(ctx, &notificationv1.ListFailedEmailsRequest{TenantId: "ten_a"})
		if err != nil || len(list.GetEmails()) != 1 || list.GetEmails()[0].GetToAddress() != "dead@herald.test" ||
			list.GetEmails()[0].GetAttempts() != 3 || list.GetEmails()[0].GetLastError() == "" {
			t.Fatalf("failed emails %v (%v)", list, err)
		}
		if other, _ := b.svc.ListFailedEmails(ctx, &notificationv1.ListFailedEmailsRequest{TenantId: "ten_b"}); len(other.GetEmails()) != 0 {
			t.Fatalf("another tenant sees %v", other)
		}
		emailID := list.GetEmails()[0].GetEmailId()
		if _, err := b.svc.ResendEmail(ctx, &notificationv1.ResendEmailRequest{TenantId: "ten_b", EmailId: emailID}); !errs.Is(err, errs.NotFound) {
			t.Fatalf("another tenant resent it: %v", err)
		}
		if _, err := b.svc.ResendEmail(ctx, &notificationv1.ResendEmailRequest{TenantId: "ten_a"}); !errs.Is(err, errs.Invalid) {
			t.Fatalf("no email id: %v", err)
		}
		mp := requireMailpit(t)
		smtp.target.Store(mp.smtp)
		smtp.up.Store(true)
		if _, err := b.svc.ResendEmail(ctx, &notificationv1.ResendEmailRequest{TenantId: "ten_a", EmailId: emailID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the resent email to be delivered", func() (bool, string) {
			e := b.emails(t)
			return len(e) == 1 && e[0].status == statusSent, describe(e)
		})
		if _, err := b.svc.ResendEmail(ctx, &notificationv1.ResendEmailRequest{TenantId: "ten_a", EmailId: emailID}); !errs.Is(err, errs.NotFound) {
			t.Fatalf("a delivered email resent: %v", err)
		}
	})
}

func TestClaimTakesAnEmailOnce(t *testing.T) {
	t.Parallel()
	// Email enabled but never due for the loop: the test claims by hand.
	b := setup(t, func(c *Config) {
		c.SMTP = "smtp://127.0.0.1:1?tls=none"
		c.Poll = time.Hour
	})
	b.svc.Close() // no delivery loop competing with the test
	b.portal.set("ten_a", "ws_1", &portalv1.Recipient{UserId: "usr_1", Email: "one@herald.test"},
		&portalv1.Recipient{UserId: "usr_2", Email: "two@herald.test"})
	if err := b.svc.handle(context.Background(), msg(t, bus.TopicPostFailed, failed("ten_a", "ws_1"))); err != nil {
		t.Fatal(err)
	}
	first, err := b.svc.claim(context.Background())
	if err != nil || len(first) != 2 {
		t.Fatalf("first claim: %d, %v; want both emails", len(first), err)
	}
	for _, e := range first {
		if e.attempts != 1 {
			t.Errorf("claimed with %d attempts, want 1", e.attempts)
		}
	}
	again, err := b.svc.claim(context.Background())
	if err != nil || len(again) != 0 {
		t.Fatalf("second claim took %d, %v; want none while the first is being sent", len(again), err)
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{permanent{errors.New("bad address")}, true},
		{fmt.Errorf("wrapped: %w", permanent{errors.New("bad address")}), true},
		{errors.New("dial tcp: connection refused"), false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := isPermanent(tt.err); got != tt.want {
			t.Errorf("isPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{RetryMin: time.Second, RetryMax: 10 * time.Second}}
	tests := []struct {
		attempts int
		max      time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{5, 10 * time.Second},
		{60, 10 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			got := s.backoff(tt.attempts)
			if got > tt.max || got < tt.max*4/5 {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempts, got, tt.max*4/5, tt.max)
			}
		}
	}
}
