// Package slack publishes to a Slack channel through an incoming webhook
// (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks):
// the account is the webhook's URL,
// https://hooks.slack.com/services/<team>/<hook>/<token>, kept in
// Account.InstanceURL; the URL is the credential, so it is a secret.
// ValidateURL checks a URL a user pasted and Provider.Connect checks that
// Slack takes it.
//
// A post is one POST of JSON {"text": ...}, with &, < and > escaped as
// Slack's mrkdwn requires (so a post cannot smuggle in <!channel> pings or
// links of its own). Slack takes images only as public image URLs in
// blocks, and files uploaded from Herald's blob store have none, so the
// provider takes no media (Limits.MaxMedia is 0, and Validate says why);
// without images, blocks would add nothing to the text.
//
// Slack answers with a text body: "ok", or an error code with its status.
// invalid_payload, no_text and the like are BadContent; channel_not_found,
// channel_is_archived, no_service, invalid_token, action_prohibited and
// their kin mean the webhook no longer works (Disconnected); 429 is
// RateLimited until Retry-After. An incoming webhook says nothing about the
// message it made (no id, no link) and cannot delete or find one, so the
// provider implements neither provider.Deleter nor provider.Looker, and a
// lost answer is Unknown.
//
// The call is hand-written with net/http. github.com/slack-go/slack
// (v0.36.0) has PostWebhookCustomHTTPContext, but it discards Slack's
// answer body and returns only the status, so channel_is_archived cannot
// be told from invalid_payload; it reads Retry-After as whole seconds only
// and cannot say whether a failed request went out. Its WebhookMessage
// type would be the only thing left to use, for one field.
//
// The package must never retry a post itself, never follow redirects and
// never show a webhook URL in an error or a log line.
package slack
