// Package facebook publishes to Facebook Pages for Herald through the
// Graph API (provider/meta/graph): an account is a Page (Account.RemoteID
// the page id, AccessToken a Page access token).
//
// Text posts and link posts go to POST /{page-id}/feed; one image to
// POST /{page-id}/photos (uploaded as multipart "source", or by URL when a
// MediaURL option is given); several images are uploaded unpublished
// (published=false) and attached to one feed post with attached_media. A
// first comment is POST /{post-id}/comments (Post.AsComment with ReplyTo).
// Posts can be deleted (DELETE /{post-id}). Media descriptions are not
// sent: the Pages photo API Herald uses takes no alt text.
//
// Connecting a Page: Facebook Login (OAuth 2.0 with state) for the scopes
// in Scopes, the code exchanged for a user token and that for a long-lived
// one, then Pages lists the pages the user manages, each with a Page
// access token that does not expire. The user picks the page(s) to
// connect; each becomes an account.
//
// Unknown outcomes: the Graph API has no idempotency key, and a page post
// carries no hidden field Herald could search for, so this provider
// implements no Looker. A feed, photo or comment request that went out
// without an answer is Unknown, and must be settled by a person (the
// page's posts are one click away); repeating it blindly may post twice.
// Uploads of unpublished photos are safe to repeat (they are not shown).
//
// The package must never retry a publishing request itself and never put
// a token in a URL or an error.
package facebook
