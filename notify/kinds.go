package notify

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
)

// Roles of Portal's recipients (portalv1.Recipient.role).
const (
	roleOwner          = "owner"
	roleManager        = "manager"
	roleClientApprover = "client_approver"
)

// Audiences by role. An owner may do everything a manager may, in every
// workspace (Portal's roles), so "the managers" of a workspace include the
// agency's owners: an event the managers hear of is never hidden from the
// people above them. Whoever does not want one turns it off in their
// preferences.
var (
	managers        = []string{roleManager, roleOwner}
	clientApprovers = []string{roleClientApprover}
	everyone        = []string{roleManager, roleOwner, roleClientApprover}
)

// audience is who among a workspace's recipients an event is for. The
// candidates always come from Portal's list for the event's own tenant
// and workspace, so an audience can only narrow it: a user id named in an
// event who is not on that list is not told.
type audience struct {
	// roles are told whatever their user id.
	roles []string
	// users are told whatever their role (the author of a post).
	users []string
	// except is never told (who made the change does not need to hear of
	// it).
	except string
}

// pick returns the recipients the audience is for, each once.
func (a audience) pick(rs []*portalv1.Recipient) []*portalv1.Recipient {
	var out []*portalv1.Recipient
	for _, r := range uniqueRecipients(rs) {
		if r.GetUserId() == a.except {
			continue
		}
		if contains(a.roles, r.GetRole()) || contains(a.users, r.GetUserId()) {
			out = append(out, r)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x && x != "" {
			return true
		}
	}
	return false
}

func approvalRequestedNotice(ev *eventsv1.ApprovalRequested) (notice, error) {
	n := notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicApprovalRequested,
		title: "A post waits for your approval",
		link:  postLink(ev.GetWorkspaceId(), ev.GetPostId()),
	}
	excerpt := firstWords(ev.GetExcerpt(), 200)
	switch ev.GetStage() {
	case "internal":
		n.to = audience{roles: managers, except: ev.GetRequestedBy()}
		n.body = "A post was submitted for internal review."
	case "client":
		n.to = audience{roles: clientApprovers, except: ev.GetRequestedBy()}
		n.body = "A post is ready for your approval before it goes out."
	default:
		return notice{}, errBadEvent{fmt.Sprintf("approval stage %q is neither internal nor client", ev.GetStage())}
	}
	if excerpt != "" {
		n.body += " It begins: “" + excerpt + "”"
	}
	n.subject = "Approval needed: " + firstWords(orDefault(ev.GetExcerpt(), "a post"), 60)
	return n, nil
}

func approvalDecidedNotice(ev *eventsv1.ApprovalDecided) notice {
	who := orDefault(oneLine(ev.GetDecidedByName()), "An approver")
	verb := "approved"
	if ev.GetDecision() == "rejected" {
		verb = "rejected"
	}
	body := who + " " + verb + " the post"
	if ev.GetStage() == "client" {
		body += " for the client"
	}
	body += "."
	if c := oneLine(ev.GetComment()); c != "" {
		body += " Comment: “" + firstWords(c, 500) + "”"
	}
	if verb == "rejected" {
		body += " Edit it and submit it again."
	}
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicApprovalDecided,
		title:   "Post " + verb,
		body:    body,
		link:    postLink(ev.GetWorkspaceId(), ev.GetPostId()),
		subject: "Your post was " + verb + " by " + firstWords(who, 40),
		to:      audience{roles: managers, users: []string{ev.GetAuthorId()}, except: ev.GetDecidedBy()},
	}
}

func approvalCommentedNotice(ev *eventsv1.ApprovalCommented) notice {
	who := orDefault(oneLine(ev.GetAuthorName()), "Someone")
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicApprovalCommented,
		title:   who + " commented on a post under review",
		body:    "“" + firstWords(ev.GetBody(), 500) + "”",
		link:    postLink(ev.GetWorkspaceId(), ev.GetPostId()) + "#comment-" + url.PathEscape(ev.GetCommentId()),
		subject: "New comment from " + firstWords(who, 40) + " on a post under review",
		// The post's author is one of its managers or owners; the client
		// approvers review it too.
		to: audience{roles: everyone, except: ev.GetAuthorId()},
	}
}

func expiringNotice(ev *eventsv1.CredentialExpiring) notice {
	net := networkName(ev.GetNetwork())
	name := oneLine(ev.GetAccountName())
	acct := "your " + net + " account"
	if name != "" {
		acct += " " + name
	}
	when := "soon"
	if ev.GetExpiresAt() != nil {
		when = "on " + ev.GetExpiresAt().AsTime().UTC().Format("2 January 2006 at 15:04 UTC")
	}
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicCredentialExpiring,
		title:   "Reconnect " + acct + " soon",
		body:    "Herald's access to " + acct + " ends " + when + " and cannot be renewed without you. Reconnect it before then to keep publishing.",
		link:    accountLink(ev.GetWorkspaceId(), ev.GetAccountId()),
		subject: "Action needed soon: " + acct + " expires " + when,
		to:      audience{roles: managers},
	}
}

func draftsNotice(ev *eventsv1.FeedDraftsCreated) notice {
	name := orDefault(oneLine(ev.GetAutomationName()), "An automation")
	count := len(ev.GetPostIds())
	posts := strconv.Itoa(count) + " new posts"
	if count == 1 {
		posts = "a new post"
	}
	body := name + " turned new feed items into " + posts + "; "
	if ev.GetQueued() {
		body += "they are in the queue."
	} else {
		body += "they wait as drafts for you to review and schedule."
	}
	link := "/workspaces/" + url.PathEscape(ev.GetWorkspaceId()) + "/automations/" + url.PathEscape(ev.GetAutomationId())
	if count == 1 {
		link = postLink(ev.GetWorkspaceId(), ev.GetPostIds()[0])
	}
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicFeedDraftsCreated,
		title:   name + " created " + posts,
		body:    body,
		link:    link,
		subject: firstWords(name, 40) + " created " + posts,
		to:      audience{roles: managers},
	}
}

func queueEmptyNotice(ev *eventsv1.QueueRunningEmpty) notice {
	name := orDefault(oneLine(ev.GetQueueName()), "A queue")
	var left string
	switch r := ev.GetRemaining(); r {
	case 0:
		left = "No post is left in it."
	case 1:
		left = "Only one post is left in it."
	default:
		left = "Only " + strconv.FormatInt(r, 10) + " posts are left in it."
	}
	if ev.GetEmptyAt() != nil && ev.GetRemaining() > 0 {
		left += " The last goes out on " + ev.GetEmptyAt().AsTime().UTC().Format("2 January 2006 at 15:04 UTC") + "."
	}
	return notice{
		tenantID: ev.GetTenantId(), workspaceID: ev.GetWorkspaceId(), kind: bus.TopicQueueRunningEmpty,
		title:   "Queue " + name + " is running empty",
		body:    left + " Add posts to keep its slots filled.",
		link:    "/workspaces/" + url.PathEscape(ev.GetWorkspaceId()) + "/queues/" + url.PathEscape(ev.GetQueueId()),
		subject: "Queue " + firstWords(name, 40) + " is running empty",
		to:      audience{roles: managers},
	}
}

// inviteNotice is the email to an invitee. It has no workspace scope (an
// owner is invited to the whole agency) and no audience in it.
func inviteNotice(ev *eventsv1.TeammateInvited) (notice, error) {
	if ev.GetTenantId() == "" {
		return notice{}, errBadEvent{"no tenant_id"}
	}
	accept := safeURL(ev.GetAcceptUrl())
	if accept == "" || ev.GetEmail() == "" {
		return notice{}, errBadEvent{"no email or no usable accept_url"}
	}
	who := orDefault(oneLine(ev.GetInvitedByName()), "A colleague")
	role := map[string]string{roleOwner: "an owner", roleManager: "a manager", roleClientApprover: "a client approver"}[ev.GetRole()]
	body := who + " invited you to join the team"
	if role != "" {
		body += " as " + role
	}
	body += ". Accept the invitation to choose your password and sign in."
	if ev.GetExpiresAt() != nil {
		body += " It is valid until " + ev.GetExpiresAt().AsTime().UTC().Format(time.DateOnly) + "."
	}
	n := notice{
		tenantID: ev.GetTenantId(), kind: bus.TopicTeammateInvited,
		title:       "You are invited",
		body:        body,
		link:        accept,
		subject:     who + " invited you to join the team",
		inviteEmail: strings.TrimSpace(ev.GetEmail()),
	}
	if ws := ev.GetWorkspaceIds(); len(ws) > 0 {
		n.inviteWorkspace = ws[0]
	}
	return n, nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
