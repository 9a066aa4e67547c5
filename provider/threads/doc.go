// Package threads publishes to Threads for Herald through the Threads API
// (graph.threads.net; provider/meta/graph): an account is a Threads
// profile (Account.RemoteID its user id, AccessToken a long-lived token,
// ExpiresAt when it lapses).
//
// Publishing is a container flow: POST /{user-id}/threads with media_type
// TEXT, IMAGE (image_url) or CAROUSEL (children made with
// is_carousel_item), and reply_to_id for a thread's next part or a first
// comment (on Threads both are replies); GET /{container-id}?fields=status
// until FINISHED (ERROR is BadContent), then POST /{user-id}/threads_publish
// with creation_id. The profile's 24-hour quota
// (GET /{user-id}/threads_publishing_limit) is checked first.
//
// Threads fetches images itself: WithMediaURL must return public URLs
// (Publisher supplies signed blob URLs); text posts need none.
//
// Tokens: the connect flow (threads_basic, threads_content_publish,
// threads_manage_replies for thread parts and first comments) ends
// with a long-lived token valid 60 days; the provider is a
// provider.Refresher that renews it (GET /refresh_access_token,
// grant_type=th_refresh_token) in its last week. A token that has expired
// cannot be renewed: that is Disconnected.
//
// Unknown outcomes: no idempotency key, no searchable marker, so no
// Looker. Only a threads_publish request that went out without an answer
// can be Unknown; containers are unpublished and safe to make again. A
// lost threads_publish answer is settled, best-effort, in the same Publish
// call: if the container's status is PUBLISHED, the profile's newest post
// (or reply) with the same text since the request is the result;
// otherwise it stays Unknown and a person must look.
package threads
