// Package storetest is the conformance suite of the relational store port:
// the one set of tests that every store adapter (SQLite, PostgreSQL) runs
// unchanged, so that SQL a service writes once behaves alike on each:
// migrations per service prefix, transactions and their after-commit hooks,
// error kinds, "?" placeholders, upserts, RETURNING, the portable column
// types, and concurrent transactions that lose no update.
//
// Every test works in tables of its own unique prefix and drops them when it
// ends, so the suite may run against a database shared with other tests. It
// must never use SQL that only one dialect accepts: the suite is the proof
// that the portable subset Herald's services write is portable.
//
// The package also gives every test a store of its own on either engine, so
// that a service's tests, written once, run on both:
//
//   - URL and URLFor hand out a fresh store: a SQLite file in the test's
//     temporary directory, or a schema of its own in the PostgreSQL test
//     server (search_path in the URL), dropped when the test ends;
//   - Main, a package's TestMain, runs its tests once on SQLite, then again
//     on PostgreSQL;
//   - PostgresURL finds the test server (HERALD_TEST_POSTGRES_URL), skipping
//     the test when it does not answer, or failing it when CI=true;
//   - PostgresRestarter restarts that server for restart tests, which run
//     only with HERALD_TEST_RESTARTS=1.
//
// The helpers must never touch anything but the schemas they create (named
// herald_test_<ulid>); the suite never changes a database beyond its prefix.
package storetest
