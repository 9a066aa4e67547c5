// Package e2e holds Herald's end-to-end scenario suite: the whole user
// journey (first run, log in, workspaces, team, connect an account, media,
// compose, schedule, published on time, notified in-app and by email, and
// bad input refused) driven through the public REST API against a running
// node, once for every way services can reach each other — method calls,
// gRPC, Connect's HTTP/JSON — with the same assertions; on the split
// topologies of seven herald serve processes behind balancers, with faults
// (a node killed, the broker restarted; topology_test.go); and the same
// journey in a real browser.
//
// It publishes to simnet, a simulated Mastodon server, and sends email to a
// real SMTP server (mailpit, started by make test).
package e2e
