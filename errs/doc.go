// Package errs is Herald's one error type: an error with a Kind the caller can
// act on (invalid, not found, conflict, ...), optional field messages for
// forms and APIs, and the cause kept for logs.
//
// A Kind survives every transport: ToConnect and FromConnect carry it, with
// the field messages, across gRPC and Connect's HTTP/JSON protocol, so code
// that calls a service sees the same error whether the call was a method call
// or went over the network. HTTPStatus maps kinds to HTTP in one place.
//
// Messages of an *Error are meant for the end user; the cause is not, and is
// never shown to one.
package errs
