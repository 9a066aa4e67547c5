package notify

import (
	"net/url"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

// topics are the events the service turns into notifications.
var topics = []string{
	bus.TopicPostPublished, bus.TopicPostFailed, bus.TopicAccountNeedsReconnect,
	bus.TopicApprovalRequested, bus.TopicApprovalDecided, bus.TopicApprovalCommented,
	bus.TopicCredentialExpiring, bus.TopicFeedDraftsCreated, bus.TopicQueueRunningEmpty,
	bus.TopicTeammateInvited,
}

// notice is what one event tells every recipient in its workspace.
type notice struct {
	tenantID    string
	workspaceID string
	// kind is the event's topic, which clients switch on.
	kind  string
	title string
	body  string
	// link is a path in Herald's web UI, made absolute with Config.BaseURL
	// in emails.
	link    string
	subject string
	// extURL is where the published post can be seen on the network.
	extURL string

	// to is who in the workspace is told.
	to audience
	// inviteEmail, for an invitation, is the only address told: the
	// invitee is no user yet, and link (accept_url, absolute) carries a
	// secret meant for them alone.
	inviteEmail string
	// inviteWorkspace is a workspace of the invitation, whose agency's
	// branding the email wears.
	inviteWorkspace string
}

// errBadEvent marks an event that can never be turned into a notification:
// redelivering it would not help.
type errBadEvent struct{ reason string }

func (e errBadEvent) Error() string { return "unusable event: " + e.reason }

// decodeNotice reads a bus message into the notice it gives.
func decodeNotice(m *bus.Message) (notice, error) {
	switch m.Topic {
	case bus.TopicPostPublished:
		var ev eventsv1.PostPublished
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return publishedNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicPostFailed:
		var ev eventsv1.PostFailed
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return failedNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicAccountNeedsReconnect:
		var ev eventsv1.AccountNeedsReconnect
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return reconnectNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicApprovalRequested:
		var ev eventsv1.ApprovalRequested
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		n, err := approvalRequestedNotice(&ev)
		if err != nil {
			return notice{}, err
		}
		return n, checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicApprovalDecided:
		var ev eventsv1.ApprovalDecided
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return approvalDecidedNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicApprovalCommented:
		var ev eventsv1.ApprovalCommented
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return approvalCommentedNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicCredentialExpiring:
		var ev eventsv1.CredentialExpiring
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return expiringNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicFeedDraftsCreated:
		var ev eventsv1.FeedDraftsCreated
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return draftsNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicQueueRunningEmpty:
		var ev eventsv1.QueueRunningEmpty
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return queueEmptyNotice(&ev), checkScope(ev.GetTenantId(), ev.GetWorkspaceId())
	case bus.TopicTeammateInvited:
		var ev eventsv1.TeammateInvited
		if err := proto.Unmarshal(m.Payload, &ev); err != nil {
			return notice{}, errBadEvent{"payload: " + err.Error()}
		}
		return inviteNotice(&ev)
	}
	return notice{}, errBadEvent{"unexpected topic " + m.Topic}
}

func checkScope(tenantID, workspaceID string) error {
	if tenantID == "" || workspaceID == "" {
		return errBadEvent{"no tenant_id or workspace_id"}
	}
	return nil
}

func publishedNotice(ev *eventsv1.PostPublished) notice {
	net := networkName(ev.GetNetwork())
	n := notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicPostPublished,
		title:   "Post published on " + net,
		body:    "Your post is live on " + net + ".",
		link:    postLink(ev.GetWorkspaceId(), ev.GetPostId()),
		subject: "Published on " + net,
		extURL:  safeURL(ev.GetRemoteUrl()),
		to:      audience{roles: managers},
	}
	if n.extURL != "" {
		n.body += " See it at " + n.extURL
	}
	return n
}

func failedNotice(ev *eventsv1.PostFailed) notice {
	net := networkName(ev.GetNetwork())
	reason := oneLine(ev.GetReason())
	if reason == "" {
		reason = "The network did not accept it."
	}
	body := "Your post could not be published on " + net + ": " + reason
	if hint := failureHint(ev.GetKind()); hint != "" {
		body += " " + hint
	}
	n := notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicPostFailed,
		title:   "Post failed on " + net,
		body:    body,
		link:    postLink(ev.GetWorkspaceId(), ev.GetPostId()),
		subject: "Failed to publish on " + net + ": " + firstWords(reason, 60),
		to:      audience{roles: managers},
	}
	if ev.GetKind() == "unknown" {
		// Nobody knows whether the post is out: someone has to look and
		// settle it, which is a different ask from a plain failure.
		n.title = "Check your post on " + net
		n.body = "Herald could not tell whether " + net + " published your post: " + reason + " " + failureHint("unknown")
		n.subject = "Action needed: did your post go out on " + net + "?"
	}
	return n
}

func reconnectNotice(ev *eventsv1.AccountNeedsReconnect) notice {
	net := networkName(ev.GetNetwork())
	body := "Herald can no longer publish to this " + net + " account until it is reconnected."
	if r := oneLine(ev.GetReason()); r != "" {
		body = net + " said: " + r + " " + body
	}
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicAccountNeedsReconnect,
		title:   "Reconnect your " + net + " account",
		body:    body,
		link:    accountLink(ev.GetWorkspaceId(), ev.GetAccountId()),
		subject: "Action needed: reconnect your " + net + " account",
		to:      audience{roles: managers},
	}
}

// failureHint says what the user can do about a failure of this kind
// (eventsv1.PostFailed.kind).
func failureHint(kind string) string {
	switch kind {
	case "bad_content":
		return "Edit the post and schedule it again."
	case "disconnected":
		return "Reconnect the account, then schedule the post again."
	case "rate_limited", "unavailable":
		return "The network is busy or down; schedule the post again later."
	case "unknown":
		return "Look at the account: if the post is there, mark it published; if not, retry it."
	}
	return ""
}

func accountLink(workspaceID, accountID string) string {
	return "/workspaces/" + url.PathEscape(workspaceID) + "/accounts/" + url.PathEscape(accountID)
}

func postLink(workspaceID, postID string) string {
	return "/workspaces/" + url.PathEscape(workspaceID) + "/posts/" + url.PathEscape(postID)
}

// networkName is how a network is named to people.
func networkName(n string) string {
	switch strings.ToLower(n) {
	case "mastodon":
		return "Mastodon"
	case "bluesky":
		return "Bluesky"
	case "":
		return "the network"
	}
	r := []rune(n)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// safeURL keeps a remote URL only if it is http(s): it ends up as a link
// in an email and in the web UI, where a javascript: URL would be an attack.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// oneLine collapses whitespace, so text from a network cannot break a
// subject line or the layout.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// firstWords shortens s to at most max runes, at a word boundary when
// there is one, with an ellipsis when something was cut.
func firstWords(s string, max int) string {
	s = oneLine(s)
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	cut := string(r[:max])
	// Unless the cut falls between two words, back up to the last space.
	if r[max] != ' ' {
		if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
			cut = cut[:i]
		}
	}
	return strings.TrimRight(cut, " .,;:") + "…"
}
