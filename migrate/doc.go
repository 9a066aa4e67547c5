// Package migrate moves a Herald installation from one store to another and
// from one media bucket to another — typically from the embedded SQLite
// file and media directory of `herald serve` to PostgreSQL and S3 — and
// proves the copy complete. It backs `herald migrate`.
//
// A move, in order:
//
//  1. opens the sources and takes an exclusive lock on a SQLite source, so
//     that a node still running on it is refused and none can start during
//     the move;
//  2. creates or migrates the target's tables with each service's own
//     migrations (through the services themselves, as a node does at
//     start-up), and refuses a source whose schema version differs;
//  3. copies every table of every service (the tables carrying the
//     service's prefix, outbox and inbox included, the schema version
//     tables excepted), discovered from the source's catalog, parents
//     before the tables whose foreign keys point to them, in primary-key
//     order, in batches of INSERT ... ON CONFLICT DO NOTHING, each value
//     converted to the target column's type;
//  4. copies every media object the target lacks (or holds with another
//     size or MD5), with its content type and other attributes;
//  5. verifies: per table the row counts and a checksum over the rows in
//     primary-key order with values normalised; per object its size, MD5
//     and content type.
//
// A move that stops half-way is resumed by running it again: rows and
// objects already in the target are skipped, and whatever it lacks is
// copied, wherever it is missing.
//
// It must never write to a source, nor delete anything from a target, nor
// change a row the target holds (ON CONFLICT DO NOTHING: a row that differs
// is reported, not fixed), nor run while a node serves either side.
// It reads other services' tables only because it is no service: it is the
// operator's tool, run with every node stopped.
package migrate
