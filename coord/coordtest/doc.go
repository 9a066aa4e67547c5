// Package coordtest is the conformance suite of the coordination port: the
// one set of tests that every coord.Coordinator adapter (in-process,
// ZooKeeper, etcd) runs unchanged from its own tests, so all of them lock,
// fence and register alike.
//
// The suite names every lock and service it uses uniquely, so it may run
// against a server shared with other tests or with earlier runs. It must
// never depend on one adapter's internals: what only one adapter can do is
// reached through an Option (WithExpire), and tests that need it are skipped
// for adapters that do not provide it.
package coordtest
