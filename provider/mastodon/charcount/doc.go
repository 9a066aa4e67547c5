// Package charcount counts the characters of a Mastodon post the way a
// Mastodon server does, so Herald can tell a user before publishing whether
// the text fits, and the simulator can refuse what a real server refuses.
//
// It must stay a pure function of the text: no I/O, no instance lookups.
// Instances with a different limit change the limit, not the counting.
package charcount
