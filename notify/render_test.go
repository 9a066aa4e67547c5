package notify

import (
	"strings"
	"testing"

	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

func TestFirstWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"  spread\n over\tlines  ", 40, "spread over lines"},
		{"cut this sentence at a word boundary please", 20, "cut this sentence at…"},
		{"averyveryverylongwordwithoutspaces", 10, "averyveryv…"},
		{"ends with punctuation, then more words", 23, "ends with punctuation…"},
		{"héllo wörld ünïcode", 12, "héllo wörld…"},
	}
	for _, tt := range tests {
		if got := firstWords(tt.in, tt.max); got != tt.want {
			t.Errorf("firstWords(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://mastodon.example/@a/1": "https://mastodon.example/@a/1",
		"http://bsky.example/post":      "http://bsky.example/post",
		"javascript:alert(1)":           "",
		"data:text/html,hi":             "",
		"//no-scheme.example":           "",
		"":                              "",
	}
	for in, want := range tests {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNotices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    notice
		want []string // in title + body + subject
		not  []string
	}{
		{"published with a link", publishedNotice(&eventsv1.PostPublished{WorkspaceId: "w", PostId: "p", Network: "bluesky", RemoteUrl: "https://bsky.example/p"}),
			[]string{"Post published on Bluesky", "https://bsky.example/p", "Published on Bluesky"}, nil},
		{"published with a hostile link", publishedNotice(&eventsv1.PostPublished{WorkspaceId: "w", PostId: "p", Network: "mastodon", RemoteUrl: "javascript:alert(1)"}),
			[]string{"Mastodon"}, []string{"javascript"}},
		{"failed without a reason", failedNotice(&eventsv1.PostFailed{WorkspaceId: "w", PostId: "p", Network: "mastodon", Kind: "disconnected"}),
			[]string{"did not accept", "Reconnect the account"}, nil},
		{"failed reason cannot break the subject", failedNotice(&eventsv1.PostFailed{WorkspaceId: "w", PostId: "p", Reason: "line one\r\nBcc: x@y"}),
			[]string{"line one Bcc: x@y", "the network"}, []string{"\n"}},
		{"reconnect", reconnectNotice(&eventsv1.AccountNeedsReconnect{WorkspaceId: "w", AccountId: "a/b", Network: "pixelfed", Reason: "token revoked"}),
			[]string{"Reconnect your Pixelfed account", "Pixelfed said: token revoked"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all := tt.n.title + " | " + tt.n.body + " | " + tt.n.subject
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("%q lacks %q", all, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(all, w) || strings.Contains(tt.n.extURL, w) {
					t.Errorf("%q holds %q", all, w)
				}
			}
			if !strings.HasPrefix(tt.n.link, "/workspaces/w/") || strings.Contains(tt.n.link, "a/b") {
				t.Errorf("link %q is not an escaped path in the workspace", tt.n.link)
			}
		})
	}
}

func TestRenderEmailEscapesHTML(t *testing.T) {
	t.Parallel()
	n := failedNotice(&eventsv1.PostFailed{WorkspaceId: "w", PostId: "p", Reason: `<img src=x onerror="alert(1)">`})
	e, err := renderEmail(n, brandOf(nil), "https://herald.example", `<script>alert("name")</script>`, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.html, "<img") || strings.Contains(e.html, "<script") {
		t.Errorf("HTML body carries markup from the event:\n%s", e.html)
	}
	if !strings.Contains(e.html, `href="https://herald.example/workspaces/w/posts/p"`) || !strings.Contains(e.text, "https://herald.example/workspaces/w/posts/p") {
		t.Errorf("bodies lack the link:\n%s\n%s", e.text, e.html)
	}
}
