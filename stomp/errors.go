package stomp

import (
	"errors"
	"strings"
)

var (
	// ErrClosed is returned by operations on a closed Client.
	ErrClosed = errors.New("stomp: client closed")
	// ErrConnectionLost is wrapped, with the cause, by operations cut short
	// because the connection ended. Whether the broker processed a frame
	// that was sent but not acknowledged by a receipt is unknown.
	ErrConnectionLost = errors.New("stomp: connection lost")
	// ErrNotConnected is wrapped by Ping while the Client is reconnecting.
	ErrNotConnected = errors.New("stomp: not connected")
	// ErrHeartBeat is wrapped when the server sent nothing for longer than
	// the negotiated heart-beat allows.
	ErrHeartBeat = errors.New("stomp: server heart-beat missed")
	// ErrStale is returned when acknowledging a message that was delivered
	// on a connection that has since ended: the broker has taken the message
	// back and delivers it again.
	ErrStale = errors.New("stomp: message belongs to an earlier connection; the broker delivers it again")
	// ErrUnsubscribed is returned by Subscription.Next once the
	// subscription ended.
	ErrUnsubscribed = errors.New("stomp: unsubscribed")
)

// ServerError is an ERROR frame from the server.
type ServerError struct {
	// Message is the frame's message header, a short description.
	Message string
	// Body is the frame's body, often a longer description (ActiveMQ puts a
	// Java stack trace there).
	Body string
	// ReceiptID names the frame that failed, when the server said.
	ReceiptID string
}

func (e *ServerError) Error() string {
	msg := e.Message
	if msg == "" {
		// The first line only: a body may be a page of stack trace.
		msg, _, _ = strings.Cut(strings.TrimSpace(e.Body), "\n")
	}
	if msg == "" {
		msg = "no description"
	}
	return "stomp: server error: " + msg
}

func serverError(f *Frame) *ServerError {
	return &ServerError{
		Message:   f.Header.Get("message"),
		Body:      string(f.Body),
		ReceiptID: f.Header.Get("receipt-id"),
	}
}
