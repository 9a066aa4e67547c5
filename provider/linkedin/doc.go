// Package linkedin publishes to LinkedIn for Herald, as a member or as an
// organization (a company page), through LinkedIn's versioned Posts API:
// it implements provider.Provider, provider.Refresher and
// provider.Deleter, and carries out the 3-legged OAuth 2.0 flow that
// connects an account.
//
// LinkedIn publishes no Go client, so this is a small REST client on
// net/http, with golang.org/x/oauth2 for the token endpoint. Every call to
// /rest/ carries Linkedin-Version (YYYYMM; LinkedIn serves each version
// for about a year, so DefaultVersion must move forward with Herald's
// releases, or WithVersion set) and X-Restli-Protocol-Version: 2.0.0.
// Images go up through the Images API (initializeUpload, then a PUT of the
// bytes to the upload URL it answers) and are attached by URN, one as
// content.media, several as content.multiImage; the post is created with
// POST /rest/posts, and the new post's URN comes back in the x-restli-id
// header. The author is Account.RemoteID, a person or organization URN.
// A video (one MP4, alone) goes through the Videos API: initializeUpload,
// a PUT of each part LinkedIn asks for, finalizeUpload with the parts'
// ETags, then GET /rest/videos/{urn} until it is AVAILABLE before the
// post names it.
// A first comment is POST /rest/socialActions/{post-urn}/comments as the
// same author, plain text (up to 1,250 characters) with at most one image;
// the Publisher publishes it as the post's next part and resumes it on its
// own if it fails after the post went out.
//
// Commentary is LinkedIn's "little" text format, in which \ | { } @ [ ] ( )
// < > # * _ ~ are markup: LinkedIn silently cuts a post at the first one
// that is not escaped. EscapeCommentary escapes them all, except in links
// (so they still link) and the # that starts a hashtag (so it stays one).
//
// OAuth: LinkedIn supports PKCE only for native apps on a loopback
// redirect, enabled on request; Herald is a web application with a client
// secret, so its flow uses state only (AuthorizeURL). Access tokens last
// 60 days; refresh tokens (a year, not renewed by a refresh) are issued
// only to apps LinkedIn has approved for them: without one, NeedsRefresh
// is false and the account is reconnected when its token runs out.
//
// Rate limits: LinkedIn counts calls per member and application per day,
// resetting at midnight UTC, and sends no rate-limit headers; a 429 is
// RateLimited until Retry-After if sent, else the next midnight UTC.
//
// LinkedIn has no idempotency key. A post request that went out without an
// answer is Unknown and never repeated blindly; a repeat of the same post
// is refused by LinkedIn as a duplicate ("Content is a duplicate of
// urn:li:share:..."), BadContent, whose message names the post that
// exists. The package does not implement provider.Looker.
//
// The package must never retry a post request itself, never follow
// redirects, and never put tokens or the client secret in errors.
package linkedin
