// Package notify is Herald's Notification service: it turns facts on the
// bus (a post was published, a post failed, an account must be
// reconnected) into notifications for the people of the workspace, in-app
// and by email.
//
// For each event it asks Portal who the workspace's recipients are (with
// their roles and the agency's branding), keeps those the kind of event is
// for (kinds.go: by role, the post's author, never the one who acted), and,
// in one transaction that also records the event id (so a redelivered event
// changes nothing), stores for each what their preferences ask (prefs.go):
// an in-app notification, a queued email, both or nothing; a user on a daily
// digest has their emails held and sent as one (digest.go). An invitation
// goes by email only, to the invitee. Emails wear the agency's name, logo
// and colour and carry a signed one-click unsubscribe link
// (unsubscribe.go). After the commit the notifications are pushed to the
// recipients' open browser streams (StreamHandler, Server-Sent Events), and
// a delivery loop sends the queued emails over SMTP, retrying with backoff
// and keeping the ones it gave up on as dead letters (ListFailedEmails,
// ResendEmail). With several Notification nodes, each also sweeps the
// recent notifications written by the others for the streams it holds
// (live.go), so a browser hears of them whichever node it is connected to.
//
// Events of a workspace also go to the webhook and Slack endpoints it
// configured (hooks*.go): their deliveries are queued in the same
// transaction as the event id, posted through the SSRF-safe outbound client
// with Standard Webhooks signatures, retried with full-jitter backoff for a
// day, then kept as dead letters that can be re-sent; an endpoint failing
// for days is disabled and its workspace told. See docs/decisions/0019.
//
// The service owns the notify_ tables and nothing else. It must never read
// another service's tables, import another service's package, or block on a
// slow browser: live delivery is best effort over bounded buffers, and the
// database stays the truth a client resyncs from (ListNotifications).
package notify
