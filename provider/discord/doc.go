// Package discord publishes to a Discord channel through one of its
// webhooks (https://discord.com/developers/docs/resources/webhook): the
// account is the webhook's URL, https://discord.com/api/webhooks/<id>/<token>,
// kept in Account.InstanceURL (Account.Secret is unused; the token in the
// URL is the credential, so the whole URL is a secret). ValidateURL checks
// a URL a user pasted and Provider.Connect checks that Discord knows it.
//
// A post is one Execute Webhook call with ?wait=true, so Discord answers
// with the message it made: JSON {content, allowed_mentions} for text,
// multipart/form-data with payload_json and files[n] when there are images
// or videos (their descriptions become the attachments' alt text). Content
// is counted in UTF-16 code units, as Discord counts it. Mentions of
// @everyone, @here and roles in a post's text are not pinged.
//
// Every answer carries the webhook's X-RateLimit-* headers, which the
// provider reports (provider.RateLimitReporter); a 429 is RateLimited until
// its JSON retry_after (seconds, fractional) or Retry-After. A webhook that
// was deleted (404 Unknown Webhook) or whose token changed (401) is
// Disconnected. The provider implements provider.Deleter (DELETE
// .../messages/<id>). It cannot implement provider.Looker: Execute Webhook
// takes no nonce or idempotency key and a webhook cannot list its
// channel's messages, so a lost answer is Unknown and a repeat may post
// twice.
//
// The client is hand-written with net/http: the Go Discord libraries
// (discordgo and others) are bot-gateway clients that bring a websocket
// stack and their own rate-limit queue, which would retry on Herald's
// behalf; one webhook call does not need them.
//
// The package must never retry a post itself, never follow redirects, and
// never show a webhook's token (its URL) in an error or a log line.
package discord
