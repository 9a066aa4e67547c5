// Package portal is Herald's Portal service: it owns agencies (the tenants),
// their client workspaces, users and roles, social accounts with their
// encrypted tokens, the media library, posts and their per-account targets,
// and API tokens. It serves the public REST API under /api/v1/ and the web
// UI (ui*.go, templates and assets in web/, built on the same domain methods;
// no GET ever changes state), asks Trigger to schedule posts, Publisher to validate content
// and Notification for the inbox, and answers Publisher's GetPublishJob and
// Notification's ListRecipients.
//
// The domain lives in methods of *Service that take the acting *Principal
// (CreatePost, ListWorkspaces, ...); the JSON API (api*.go) only decodes,
// authenticates and encodes around them, so the web UI can call the same
// methods. Every query is scoped by the principal's agency, and an object of
// another agency, or of a workspace the principal is not a member of, is
// reported as not found, never as forbidden, so ids do not leak existence.
//
// # Roles
//
// An agency owner may do everything in the agency. Other users are members
// of workspaces with a role: a manager handles the accounts, media and posts
// of the workspace; a client approver may read its posts (and the media they
// show), and review, approve, reject and comment on those waiting for the
// client's approval, and nothing else. A client without an account reviews
// through a workspace's review link, which signs its holder into the review
// pages only (docs/decisions/0021-approvals.md).
//
// # Scheduled times
//
// A post's time is given as a local wall time ("2026-12-01T09:30") in its
// workspace's IANA zone and stored as a UTC instant with the zone and the
// wall time kept for display. At daylight-saving changes:
//
//   - a wall time that does not exist (skipped by a spring-forward gap) is
//     refused with a field error saying so, rather than silently moved;
//   - a wall time that happens twice (a fall-back overlap) means the earlier
//     of the two instants, i.e. the one still on the offset before the change.
//
// A time before now is refused.
//
// # Scheduling and Trigger
//
// A post is written (status scheduled) before Trigger is asked to schedule
// it, because Trigger may fire at once (publish now) and Publisher then asks
// GetPublishJob for it. If Trigger refuses or cannot be reached, the post is
// deleted again (an edit is undone) and the caller gets "unavailable". A row
// whose Schedule call's outcome is not known (crash, lost answer) is marked
// unsynced and re-sent by a background loop: Schedule replaces by id, so a
// repeat is harmless, and GetPublishJob's revision check drops any firing of
// a revision Portal no longer holds.
//
// # Connecting accounts
//
// An account connects with a token the user pastes (ConnectAccount), a
// form (ConnectWithForm: Bluesky, Telegram, Discord, Slack, webhooks) or
// OAuth's authorization-code flow (StartOAuth, FinishOAuth), bound to the
// browser session that started it by a single-use state. Mastodon
// registers Herald as an app on each instance (OAuthFlow); X, LinkedIn,
// Threads, Facebook and Instagram use one app of Herald's own, configured
// (AppOAuthFlow), with a PKCE verifier kept sealed with the state. Facebook
// and Instagram logins end on a pick: the pages or Instagram accounts the
// user may publish as are kept sealed behind a single-use, session-bound
// pick token until the user chooses (PickAccounts); each chosen one is an
// account holding its page token, and the user's token is dropped.
//
// # What it must never do
//
// Portal never reads or writes another service's tables, never returns an
// account's access token except to Publisher through GetPublishJob, never
// stores a password, session id, API token or invite token in clear, and
// never builds transport errors itself: handlers return errs errors and the
// transport maps them.
package portal
