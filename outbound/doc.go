// Package outbound makes the HTTP client Herald uses for every request to a
// URL that a user supplied: RSS and Atom feeds, webhook endpoints, media
// fetched by URL, a Mastodon instance.
//
// Such a URL can point anywhere, including at Herald's own machine or its
// private network (server-side request forgery). The client therefore checks
// the address it is about to connect to at dial time, after DNS resolution,
// so a name that resolves to an internal address (or that changes what it
// resolves to between a check and the request: DNS rebinding) is refused all
// the same. Every redirect hop dials again and is checked the same way; only
// http and https are followed, and only a few hops.
//
// The client must never use an HTTP proxy from the environment (the dial
// would then go to the proxy, and the check would look at the wrong
// address), and code in Herald must never fetch a user-supplied URL with any
// other client.
package outbound
