// Package blobtest is the conformance suite of the blob port: the one set of
// tests that every bucket Herald can open (local directory, memory, S3)
// passes unchanged, covering what Herald relies on: content types and
// metadata kept, overwrite, delete, not-found codes, listing by prefix,
// keys with slashes and objects of several megabytes.
//
// Every test writes under its own unique key prefix, so the suite may run
// against a bucket shared with other tests. It must never look behind the
// Bucket (files on disk, server APIs): only the portable behaviour counts.
package blobtest
