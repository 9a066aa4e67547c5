// Package etcd is the etcd coordination adapter: locks with fencing tokens
// and a service registry kept by an etcd cluster (v3 API), through
// go.etcd.io/etcd/client/v3 and its concurrency sessions. It registers the
// "etcd" URL scheme:
//
//	etcd://[user:password@]host[:port][,host[:port]...][/path][?options]
//
//	etcd://127.0.0.1:2379,10.0.0.2:2379/herald?ttl=10s
//
// Hosts without a port use 2379 (in a list, give every host its port: Go's
// URL parser reads the port of the last one only). The client speaks plain
// HTTP/2 to them: TLS is not supported yet. The path (default /herald)
// prefixes every key Herald writes, so several installations may share a
// cluster. Options:
//
//	ttl=10s              the session lease's time to live, in whole seconds
//	                     (rounded up; the cluster may raise a very short one)
//	connect_timeout=5s   how long Open waits for the cluster to answer
//
// With user and password, the client authenticates with etcd's own users
// and roles; a cluster that refuses them fails Open. Errors and logs show
// the URL with its password hidden.
//
// Keys under the path: locks/<name> holds the lock's holder, bound to the
// holder's lease; services/<service>/<id> holds the instance as JSON, bound
// to the registering session's lease. Names are escaped so that any name is
// one key segment.
//
// # Locks
//
// A coordinator keeps one concurrency.Session: a lease the client keeps
// alive. TryLock is one transaction: if locks/<name> does not exist, put it
// with the session's lease; otherwise the lock is held and TryLock returns
// coord.ErrLocked without writing. The fencing token is the key's create
// revision, the revision of that transaction: etcd's revision counts every
// change to the cluster and only grows, and the next holder's key can only
// be created after this one is deleted, so its token is larger. Unlock
// deletes the key only if it still holds this acquisition's value (holder
// and a random part), so it never frees a later holder's lock.
//
// A mutex of the concurrency package would not do: it is re-entrant within
// a session (its key is named after the lease), and a coordinator's locks
// must not be.
//
// # Sessions
//
// Lost closes when the session's lease is lost: revoked, expired, or not
// renewed for two thirds of its time to live. The client renews the lease
// every third of it, so that is one renewal missed; the cluster would end
// the lease at the earliest one time to live after the last renewal it
// received, so the client stops claiming its locks before another client
// could be given them. It then revokes the old lease (once the cluster can
// be reached) and starts a new session, in which it registers its
// instances again.
//
// It must never delete a key it did not write (every delete is conditional
// on the value it wrote), nor claim a lock after its lease may have ended.
package etcd
