// Package servertest finds the real servers the adapters' tests run
// against: the address a HERALD_TEST_* variable names (or the default that
// scripts/test-infra.sh prints), checked to answer before a test relies on
// it, and the restart of a server for the restart tests.
//
// A test whose server is missing is skipped, except under CI=true, where a
// missing server is a failure. It must never start servers itself: that is
// scripts/test-infra.sh's job.
package servertest
