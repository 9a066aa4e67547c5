// Package webhook is Herald's generic signed webhook: a "network" that is
// any HTTPS endpoint the user runs, which receives each published post as
// JSON. The account is the endpoint's URL (Account.InstanceURL) and its
// signing secret (Account.Secret; several, comma-separated, while secrets
// rotate).
//
// A delivery is POST <url> with Content-Type application/json and
//
//	{"id": "<idempotency key>", "type": "post.published", "text": "...",
//	 "media": [{"url": "...", "mime_type": "image/png", "description": "..."}],
//	 "account": {"id": "...", "handle": "..."}, "created_at": "RFC 3339"}
//
// (media only when the Provider was given a way to make public media URLs,
// WithMediaURLs; otherwise posts with media are refused by Validate) and
// the headers Herald-Webhook-Id (the id again), Herald-Webhook-Timestamp
// (Unix seconds) and Herald-Signature: "v1=" and the hex HMAC-SHA256, keyed
// with the secret, of the timestamp, ".", and the body. While secrets
// rotate there is one v1= value per secret, separated by commas.
//
// Receivers must check the signature (Verify does, with a replay window),
// answer 2xx quickly, and dedupe on Herald-Webhook-Id: a delivery whose
// answer was lost is sent again with the same id, so the same event can
// arrive more than once. A receiver may answer JSON {"id": ..., "url": ...}
// to name what it made. Herald also sends {"type": "webhook.ping"} when an
// endpoint is connected or checked; answer it 2xx and ignore it.
//
// Answers: 2xx is published; 410 Gone means the endpoint is retired
// (Disconnected), as do 401, 403 and 404; 429 is RateLimited and 5xx a
// Retry, both after Retry-After when given; other 4xx refuse the content;
// a timeout or reset after sending is Unknown.
//
// Sign, SignatureHeader and Verify are pure functions, so Herald's other
// senders of signed webhooks (the Notification service) and receivers can
// use the same scheme. The package must never retry a delivery itself,
// never follow redirects, and never put a secret in an error.
package webhook
