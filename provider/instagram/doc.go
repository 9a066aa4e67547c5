// Package instagram publishes to Instagram professional accounts for
// Herald through the Instagram Graph API's content publishing
// (graph.facebook.com, with Facebook Login; provider/meta/graph): an
// account is an Instagram account linked to a Facebook page
// (Account.RemoteID the IG user id, AccessToken a token of a user who
// manages that page, or the page's token).
//
// Instagram fetches media itself, so every image must be at a public URL
// when Publish runs: New takes WithMediaURL, a function that returns one
// for a provider.Media. Publisher must supply it with short-lived signed
// URLs of Herald's blob store (S3 presigned GETs, or a signed route of
// Herald's own); without it Publish refuses every post.
//
// Publishing is Instagram's container flow: POST /{ig-user-id}/media per
// image (is_carousel_item for a carousel's items, then one CAROUSEL
// container with children), polling GET /{container-id}?fields=status_code
// until FINISHED (ERROR is BadContent: Instagram could not use the media),
// then POST /{ig-user-id}/media_publish with creation_id. The account's
// 24-hour publishing quota (GET /{ig-user-id}/content_publishing_limit) is
// checked first, and a spent quota is RateLimited. A first comment is
// POST /{media-id}/comments.
//
// Unknown outcomes: the API has no idempotency key and a post carries no
// hidden field to search for, so this provider implements no Looker. Only
// a media_publish (or comment) request that went out without an answer
// can be Unknown; containers are invisible until published and safe to
// make again. A lost media_publish answer is settled, best-effort, in the
// same Publish call: if the container's status_code is PUBLISHED, the
// newest media with the same caption published since the request is the
// result. Otherwise it stays Unknown, and a person must look at the
// account before it is posted again.
// Instagram's API cannot delete media, so there is no Deleter either.
package instagram
