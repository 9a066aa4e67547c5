// Package zk is the ZooKeeper coordination adapter: locks with fencing
// tokens and a service registry kept by a ZooKeeper ensemble (3.5 or
// later), through github.com/go-zookeeper/zk. It registers the "zk" URL
// scheme:
//
//	zk://[user:password@]host[:port][,host[:port]...][/path][?options]
//
//	zk://127.0.0.1:2181,10.0.0.2:2181/herald?session_timeout=10s
//
// Hosts without a port use 2181 (in a list, give every host its port: Go's
// URL parser reads the port of the last one only). The path (default
// /herald) is the node under which Herald keeps its data, so several
// installations may share an ensemble. Options:
//
//	ttl=10s              the session timeout asked of the servers (they
//	                     keep it within their own bounds, by default 2 to
//	                     20 ticks); session_timeout is the same option
//	connect_timeout=5s   how long Open waits for a session
//
// With user and password, the client adds them as ZooKeeper "digest"
// credentials and every node it creates is readable and writable by those
// credentials only; a client with other credentials fails at Open. Errors
// and logs show the URL with its password hidden.
//
// Layout under the path: locks/<name>/lock~<random>~<sequence> are
// ephemeral sequential nodes holding the holder's name, under a container
// node per lock name; services/<service>/<id>~<random>~<sequence> are
// ephemeral sequential nodes holding the instance as JSON. Names are
// escaped so that any name is one node.
//
// # Locks
//
// TryLock is the ZooKeeper lock recipe without waiting: it creates its
// ephemeral sequential node and holds the lock if that node has the lowest
// sequence number under the lock's node; otherwise it deletes its node and
// returns coord.ErrLocked. (It first looks whether the lock's node has
// children at all, so a held lock costs one read, not three writes.)
//
// The fencing token is the czxid of the holder's node: the id of the
// transaction that created it. Zxids are issued in one total order by the
// ensemble's leader and only grow (the epoch in their high bits grows with
// every new leader), so every node created later has a larger czxid. A
// holder's node is always created after the previous holder's node (the
// previous node was the lowest when it won, so a node created before it
// would have beaten it), hence its token is larger. The sequence number
// would not do: it is counted per parent node, and the container holding a
// lock's nodes is removed by the server once empty, which restarts the
// count.
//
// # Sessions
//
// Locks and registrations live as long as the client's session. Lost
// closes when the session expires (the client then opens a new session and
// registers its instances again in it), when the coordinator is closed, and
// when the client has been disconnected for a third of the session timeout
// without getting its session back. The client notices a silent
// disconnection at most two thirds of the timeout after the last answer it
// read, and the servers expire a session no sooner than a full timeout
// after they last heard from it, which is no later than that answer (this
// client sets no watches, so everything it reads answers something it
// sent): the third left is when the client stops claiming its locks, before
// another client could be given them. (Waiting the whole timeout, as some
// recipes do, leaves a window where two holders both believe they hold the
// lock; the fencing token is what protects the data in any case.) If the
// session then comes back, the nodes of the locks given up are deleted.
//
// It must never use the sequence number as a fencing token, never delete
// a node it did not create (every node name carries a random part), and
// never claim a lock after its session may have ended.
package zk
