package notify

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/id"
)

// team is the cast of the role matrix: in agency A's workspace an owner,
// two managers (one of them the post's author), two client approvers; in
// agency B a workspace with the same id, whose members must never hear of
// A's events.
func team(b *bundle) {
	b.portal.set("ten_a", "ws_1",
		&portalv1.Recipient{UserId: "owner", Role: roleOwner, Email: "owner@a.test"},
		&portalv1.Recipient{UserId: "author", Role: roleManager, Email: "author@a.test"},
		&portalv1.Recipient{UserId: "manager", Role: roleManager, Email: "manager@a.test"},
		&portalv1.Recipient{UserId: "client1", Role: roleClientApprover, Email: "client1@a.test"},
		&portalv1.Recipient{UserId: "client2", Role: roleClientApprover, Email: "client2@a.test"},
	)
	b.portal.set("ten_b", "ws_1",
		&portalv1.Recipient{UserId: "b_owner", Role: roleOwner, Email: "owner@b.test"},
		&portalv1.Recipient{UserId: "b_manager", Role: roleManager, Email: "manager@b.test"},
		&portalv1.Recipient{UserId: "b_client", Role: roleClientApprover, Email: "client@b.test"},
	)
}

var allUsers = []string{"owner", "author", "manager", "client1", "client2", "b_owner", "b_manager", "b_client"}

func tenantOf(user string) string {
	if strings.HasPrefix(user, "b_") {
		return "ten_b"
	}
	return "ten_a"
}

func TestEachKindReachesExactlyItsAudience(t *testing.T) {
	t.Parallel()
	soon := timestamppb.New(time.Now().Add(72 * time.Hour))
	tests := []struct {
		name  string
		topic string
		event proto.Message
		want  []string
		title string
	}{
		{"published: managers (owners are managers of every workspace)", bus.TopicPostPublished, published("ten_a", "ws_1"),
			[]string{"owner", "author", "manager"}, "Post published on Mastodon"},
		{"failed: managers and owners", bus.TopicPostFailed, failed("ten_a", "ws_1"),
			[]string{"owner", "author", "manager"}, "Post failed on Mastodon"},
		{"unknown outcome: managers and owners, asked to settle it", bus.TopicPostFailed,
			&eventsv1.PostFailed{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Network: "bluesky", Kind: "unknown", Reason: "The network timed out."},
			[]string{"owner", "author", "manager"}, "Check your post on Bluesky"},
		{"needs reconnect: managers and owners", bus.TopicAccountNeedsReconnect,
			&eventsv1.AccountNeedsReconnect{TenantId: "ten_a", WorkspaceId: "ws_1", AccountId: "acct_1", Network: "mastodon"},
			[]string{"owner", "author", "manager"}, "Reconnect your Mastodon account"},
		{"credential expiring: managers and owners", bus.TopicCredentialExpiring,
			&eventsv1.CredentialExpiring{TenantId: "ten_a", WorkspaceId: "ws_1", AccountId: "acct_1", Network: "linkedin", AccountName: "Brand", ExpiresAt: soon},
			[]string{"owner", "author", "manager"}, "Reconnect your Linkedin account Brand soon"},
		{"approval requested, internal stage: managers and owners but the requester", bus.TopicApprovalRequested,
			&eventsv1.ApprovalRequested{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Stage: "internal", RequestedBy: "author", Excerpt: "Big news"},
			[]string{"owner", "manager"}, "A post waits for your approval"},
		{"approval requested, client stage: client approvers", bus.TopicApprovalRequested,
			&eventsv1.ApprovalRequested{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Stage: "client", RequestedBy: "author", Excerpt: "Big news"},
			[]string{"client1", "client2"}, "A post waits for your approval"},
		{"approval decided: the author and managers, not the approver", bus.TopicApprovalDecided,
			&eventsv1.ApprovalDecided{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Stage: "client", Decision: "rejected",
				DecidedBy: "client1", DecidedByName: "Cleo", AuthorId: "author", Comment: "Wrong date"},
			[]string{"owner", "author", "manager"}, "Post rejected"},
		{"approval decided for an owner's post: the owner too", bus.TopicApprovalDecided,
			&eventsv1.ApprovalDecided{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Stage: "internal", Decision: "approved",
				DecidedBy: "manager", AuthorId: "owner"},
			[]string{"owner", "author"}, "Post approved"},
		{"approval decided naming another tenant's author: not them", bus.TopicApprovalDecided,
			&eventsv1.ApprovalDecided{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", Stage: "internal", Decision: "approved",
				DecidedBy: "owner", AuthorId: "b_manager"},
			[]string{"author", "manager"}, "Post approved"},
		{"comment: everyone on the post but the commenter", bus.TopicApprovalCommented,
			&eventsv1.ApprovalCommented{TenantId: "ten_a", WorkspaceId: "ws_1", PostId: "post_1", CommentId: "cmt_1", AuthorId: "client1", AuthorName: "Cleo", Body: "Nice"},
			[]string{"owner", "author", "manager", "client2"}, "Cleo commented on a post under review"},
		{"feed drafts: managers", bus.TopicFeedDraftsCreated,
			&eventsv1.FeedDraftsCreated{TenantId: "ten_a", WorkspaceId: "ws_1", AutomationId: "auto_1", AutomationName: "Blog", PostIds: []string{"post_1", "post_2"}},
			[]string{"owner", "author", "manager"}, "Blog created 2 new posts"},
		{"queue running empty: managers", bus.TopicQueueRunningEmpty,
			&eventsv1.QueueRunningEmpty{TenantId: "ten_a", WorkspaceId: "ws_1", QueueId: "q_1", QueueName: "Tips", Remaining: 1, EmptyAt: soon},
			[]string{"owner", "author", "manager"}, "Queue Tips is running empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			team(b)
			evID := id.New("evt")
			for range 3 { // redelivered: one notification each, not three
				if err := b.deliver(t, evID, tt.topic, tt.event); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, u := range allUsers {
				res := b.list(t, tenantOf(u), u)
				switch len(res.Notifications) {
				case 0:
				case 1:
					got = append(got, u)
					if n := res.Notifications[0]; n.Title != tt.title || n.Kind != tt.topic || !strings.HasPrefix(n.Link, "/workspaces/ws_1/") {
						t.Errorf("%s got %v; want title %q", u, n, tt.title)
					}
				default:
					t.Errorf("%s has %d notifications of one event", u, len(res.Notifications))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("notified %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBadApprovalStageIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	team(b)
	err := b.deliver(t, id.New("evt"), bus.TopicApprovalRequested, &eventsv1.ApprovalRequested{TenantId: "ten_a", WorkspaceId: "ws_1", Stage: "legal"})
	if err != nil {
		t.Fatalf("got %v, want the event dropped", err)
	}
	if b.portal.calls != 0 {
		t.Error("portal was asked about an unusable event")
	}
}

func TestInviteGoesOnlyToTheInvitee(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.SMTP = "smtp://127.0.0.1:1?tls=none"; c.RetryMin = c.RetryMax; c.Poll = time.Hour })
	team(b)
	ev := &eventsv1.TeammateInvited{TenantId: "ten_a", InviteId: "inv_1", Email: "new@a.test", Role: roleManager,
		WorkspaceIds: []string{"ws_1"}, InvitedByName: "Olga", AcceptUrl: "https://herald.example/invites/secret-token"}
	evID := id.New("evt")
	for range 2 {
		if err := b.deliver(t, evID, bus.TopicTeammateInvited, ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range allUsers {
		if n := len(b.list(t, tenantOf(u), u).Notifications); n != 0 {
			t.Errorf("%s got %d notifications of an invitation", u, n)
		}
	}
	rows, err := b.db.Query(context.Background(), `SELECT to_address, text_body, user_id, unsubscribe_url FROM notify_emails`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var count int
	for rows.Next() {
		var to, text, user, unsub string
		if err := rows.Scan(&to, &text, &user, &unsub); err != nil {
			t.Fatal(err)
		}
		count++
		if to != "new@a.test" || !strings.Contains(text, "https://herald.example/invites/secret-token") || !strings.Contains(text, "Olga invited you") ||
			user != "" || unsub != "" {
			t.Errorf("invitation email to %q (user %q, unsubscribe %q):\n%s", to, user, unsub, text)
		}
	}
	if count != 1 {
		t.Errorf("%d emails for one invitation delivered twice, want 1", count)
	}
}
