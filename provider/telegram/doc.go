// Package telegram publishes to a Telegram channel, group or chat through
// a bot, with the Bot API (https://core.telegram.org/bots/api): Herald's
// account is a bot token (Account.AccessToken, from @BotFather) and a chat
// (Account.RemoteID: a numeric chat id, or @channelusername for a public
// channel), and the bot must be allowed to post there (an administrator of
// a channel, a member of a group). Connect checks all of that once, when
// the account is connected.
//
// A text post is one sendMessage; a post with one image is a sendPhoto with
// the text as its caption (1024 characters at most); two to ten images are
// one sendMediaGroup, the caption on the first. Images are uploaded as
// multipart/form-data, streamed from the blob store. Lengths are counted
// in UTF-16 code units, as Telegram counts them. A post with ReplyTo
// replies to that message, so threads publish part by part.
//
// The Bot API has no idempotency key and no way for a bot to read a chat's
// history, so the package cannot implement provider.Looker: a send whose
// answer was lost is Unknown, and repeating it may post twice. It does
// implement provider.Deleter (deleteMessage, for each message of a post).
//
// The client is hand-written with net/http: the Go Bot API libraries are
// built around long polling for updates and their own HTTP handling, which
// would hide whether a request went out and how Telegram refused it.
//
// The package must never retry a send itself, never follow redirects,
// and never let the bot token (which is part of every request's URL)
// reach an error, a log line or a message.
package telegram
