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
package storetest
