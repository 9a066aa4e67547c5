// Package postgres is the PostgreSQL store adapter: it opens a *store.DB
// over pgx (github.com/jackc/pgx/v5, through its database/sql driver, so
// services see the same store.DB type as with SQLite) and maps PostgreSQL's
// errors to Herald's kinds.
//
// # URL
//
//	postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]
//	postgresql://...                        (the same)
//
// Any host, port or user left out comes from the usual PG* environment
// variables and libpq's defaults, as pgx reads them. Options are query
// parameters of two kinds.
//
// Pool options (Herald's, taken out of the URL before it reaches pgx):
//
//	pool_max_conns           most open connections (default 10); at least 2,
//	                         since Migrate holds one for its lock while it works
//	pool_max_idle_conns      most idle connections kept (default pool_max_conns)
//	pool_max_conn_lifetime   close a connection after this long, e.g. 1h (default 1h; 0: never)
//	pool_max_conn_idle_time  close a connection idle this long, e.g. 30m (default 30m; 0: never)
//
// Any other pool_* option is refused, so a misspelt one is not silently
// sent to the server.
//
// Connection options (pgx's and libpq's, passed through), most useful:
//
//	sslmode                  disable, prefer (pgx's default), require, verify-ca, verify-full
//	sslrootcert, sslcert, sslkey
//	connect_timeout          seconds to wait for each address the URL names (Herald's default 5,
//	                         so that a node fails fast when the server is unreachable; 0: no limit)
//	password                 the password, if not in the user part
//	search_path              the schema(s) Herald's tables live in, e.g. search_path=herald
//	application_name         how the connections show in pg_stat_activity (default herald)
//	default_query_exec_mode  cache_statement (default), cache_describe, describe_exec,
//	                         exec or simple_protocol (behind a transaction-pooling PgBouncer)
//
// Every other parameter is sent to the server as a run-time setting
// (statement_timeout=30000, lock_timeout=5000, ...).
//
// Credentials may be in the URL; the adapter never writes them into an
// error or a log: *store.DB's URL and every error name the address with
// the password (of the user part, and the password and sslpassword
// options) replaced by "xxxxx".
//
// # Behaviour
//
// Open connects once before it returns, so a node that cannot reach the
// server, or whose credentials the server refuses, stops at start-up with
// one line naming the store, the redacted address and the cause. Later,
// broken connections are replaced by the pool: after a server restart the
// next statements reconnect by themselves.
//
// Errors are classified: a unique or primary-key violation is
// errs.Conflict; a lost or refused connection, a server shutting down or
// starting, too many connections, a serialization failure or a deadlock
// are errs.Unavailable (try again later). Anything else is left as it is.
//
// MigrationLock serializes migrations of one service across nodes that
// start together, with a PostgreSQL advisory lock.
//
// This package must never hold SQL of its own beyond the lock and the
// start-up check: services write portable SQL against store.DB.
package postgres
