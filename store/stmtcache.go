package store

import (
	"container/list"
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmtCache keeps prepared statements by query text (already rebound), so
// that a query a service runs again and again is parsed once per connection
// instead of on every call: SQLite (modernc) otherwise prepares each
// statement anew, about a fifth of a busy node's CPU.
//
// The cache holds at most max statements; the least recently used one is
// closed when a new one would exceed it. A statement is closed only once no
// call is using it (refs), and database/sql itself keeps a closed
// statement's connection statements alive for the rows and transaction
// statements derived from it, so eviction never breaks a call in flight.
//
// PostgreSQL does not use it: pgx already caches prepared statements per
// connection (its default query exec mode, cache_statement) and handles the
// server's "cached plan must not change result type" after a schema change.
type stmtCache struct {
	max int

	mu      sync.Mutex
	entries map[string]*list.Element // of *cachedStmt
	lru     list.List                // front: most recently used
}

type cachedStmt struct {
	query   string
	st      *sql.Stmt
	refs    int
	evicted bool
}

func newStmtCache(max int) *stmtCache {
	if max <= 0 {
		return nil
	}
	return &stmtCache{max: max, entries: make(map[string]*list.Element)}
}

// cacheable reports whether q is worth keeping: a script of several
// statements (schema changes, mostly) is not, since the driver parses each
// part again on every run anyway.
func cacheable(q string) bool { return !strings.Contains(q, ";") }

// get returns the cached statement for q, taking a reference the caller
// gives back with release, or nil when q is not cached.
func (c *stmtCache) get(q string) *cachedStmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[q]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	cs := el.Value.(*cachedStmt)
	cs.refs++
	return cs
}

// release gives back a reference taken by get or add, closing the
// statement if it was evicted meanwhile and this was its last user.
func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.refs--
	closeIt := cs.evicted && cs.refs == 0
	c.mu.Unlock()
	if closeIt {
		_ = cs.st.Close()
	}
}

// add prepares q on the pool and caches it, returning it with a reference
// taken. It returns nil when q does not prepare (the caller runs the query
// unprepared, which reports the error as usual).
func (c *stmtCache) add(ctx context.Context, db *sql.DB, q string) *cachedStmt {
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	if el, ok := c.entries[q]; ok {
		// Another call prepared it first: use that one.
		c.lru.MoveToFront(el)
		cs := el.Value.(*cachedStmt)
		cs.refs++
		c.mu.Unlock()
		_ = st.Close()
		return cs
	}
	cs := &cachedStmt{query: q, st: st, refs: 1}
	c.entries[q] = c.lru.PushFront(cs)
	var closing []*sql.Stmt
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.entries, old.query)
		old.evicted = true
		if old.refs == 0 {
			closing = append(closing, old.st)
		}
	}
	c.mu.Unlock()
	for _, st := range closing {
		_ = st.Close()
	}
	return cs
}

// prepareAll caches each of qs not cached yet; a transaction calls it once
// it is over for the queries it ran unprepared (preparing them on the pool
// during the transaction could wait for the connection the transaction
// holds).
func (c *stmtCache) prepareAll(ctx context.Context, db *sql.DB, qs []string) {
	for _, q := range qs {
		if cs := c.get(q); cs != nil {
			c.release(cs)
			continue
		}
		if cs := c.add(ctx, db, q); cs != nil {
			c.release(cs)
		}
	}
}

// len returns how many statements are cached, for tests.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// close closes every cached statement not in use; the rest close when
// released.
func (c *stmtCache) close() {
	c.mu.Lock()
	var closing []*sql.Stmt
	for c.lru.Len() > 0 {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.entries, old.query)
		old.evicted = true
		if old.refs == 0 {
			closing = append(closing, old.st)
		}
	}
	c.mu.Unlock()
	for _, st := range closing {
		_ = st.Close()
	}
}
