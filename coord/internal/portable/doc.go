// Package portable is the layer every networked coordination adapter
// (ZooKeeper, etcd) sits behind, so that callers get the same behaviour from
// each whatever the server: input checked the same way, a closed coordinator
// refusing every call, a lock's Lost channel closed exactly once and for
// every reason, an Unlock that may be repeated, registrations that end with
// their context, and the bookkeeping of a session that ends or is suspended:
// its locks lost, its registrations announced again in the next session,
// and whatever it may have left behind on the server cleaned up once the
// server can be reached.
//
// An adapter writes only a Driver, the thin part that talks to its server,
// and tells the Coordinator what happens to its session (SessionStarted,
// SessionSuspended, SessionEnded). It also reads here the URL options the
// adapters share and builds the one line an Open that cannot start returns.
//
// It must never talk to a server itself, nor decide on its own that a
// session is over: only the driver knows what its server promises, so the
// portable layer acts on the driver's word and on nothing else.
package portable
