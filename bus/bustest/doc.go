// Package bustest is the conformance suite of the event bus port: one set of
// tests that every bus adapter runs unchanged from its own _test.go file, so
// that swapping the in-process bus for a broker changes nothing a service
// relies on.
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { return mem.New() })
//	}
//
// An adapter whose messages outlive the bus (a broker) also gives a Reopen
// hook, so the suite can check that a restart loses nothing:
//
//	bustest.RunAdapter(t, bustest.Adapter{
//		Open:   func(t *testing.T) bus.Bus { return openBroker(t, url) },
//		Reopen: func(t *testing.T, _ bus.Bus) bus.Bus { return openBroker(t, url) },
//	})
//
// The suite reads the bus's Features and tests exactly what it declares on
// top of what every bus must do (at-least-once delivery to every group,
// competing consumers within a group, redelivery after a handler error, the
// subscriber's concurrency bound, clean stop and close, and rejecting bad
// input with errs.Invalid naming the field). Its subtests run in parallel
// and use unique topic and group names, so they may share one broker.
//
// Waits for asynchronous outcomes poll with a generous deadline
// (Adapter.Timeout); nothing asserts on speed. The suite must never depend on
// one adapter's particulars: what only one bus does belongs in that
// adapter's own tests.
package bustest
