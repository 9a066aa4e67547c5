// Package graph is the small client Herald's Meta providers (facebook,
// instagram, threads) share for Meta's Graph APIs (graph.facebook.com and
// graph.threads.net): versioned URLs, the Graph error object turned into a
// *provider.Error of the right Kind, the usage headers (X-App-Usage,
// X-Business-Use-Case-Usage) kept per account as a provider.RateLimit, the
// container steps Instagram and Threads publish through (Containers), and
// the Facebook-style OAuth steps (authorization dialog, code exchange,
// long-lived token exchange).
//
// No maintained Go client covers these APIs as Herald needs them (typed
// errors, lost-response detection, the providers' *http.Client), so this is
// a hand-written net/http client; OAuth URLs and the code exchange use
// golang.org/x/oauth2.
//
// The package must never retry a request itself (the Publisher decides,
// knowing whether the outcome is Unknown), never follow redirects, and never
// put an access token in a URL or an error: tokens travel in the
// Authorization header, or in a request body where the API wants them.
package graph
