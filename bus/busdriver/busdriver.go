package busdriver

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
)

// ErrClosed is returned by every operation on a closed bus.
var ErrClosed = bus.ErrClosed

// MaxTopicLen is the port's limit on a topic's length.
const MaxTopicLen = bus.MaxTopicLen

// CheckTopic, ValidateMessages and ValidateSubscribe are the port's: every
// adapter, in-process or broker, applies the same rules.
var (
	CheckTopic        = bus.CheckTopic
	ValidateMessages  = bus.ValidateMessages
	ValidateSubscribe = bus.ValidateSubscribe
)

// readableLen bounds the readable part of a Name.
const readableLen = 64

// Name returns the name of the durable thing (a JetStream consumer, an AMQP
// queue) that holds topic's messages for group. It is made only of ASCII
// letters, digits, '_' and '-', which every broker accepts in names (NATS
// refuses '.', '*', '>' and path separators in consumer names), at most 81
// bytes long. It starts with the topic and the group for whoever reads a
// broker's console, and ends with a hash of both, so two pairs never share a
// name even when their readable parts do.
func Name(topic, group string) string {
	sum := sha256.Sum256([]byte(topic + "\x00" + group))
	readable := sanitize(topic) + "-" + sanitize(group)
	if len(readable) > readableLen {
		readable = readable[:readableLen]
	}
	return readable + "-" + hex.EncodeToString(sum[:8])
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

// Redact returns u for messages and logs: without its password, and without
// its user name too when hideUser is set (a NATS URL's lone user name is a
// token, a secret).
func Redact(u *url.URL, hideUser bool) string {
	if u == nil {
		return ""
	}
	if u.User == nil {
		return u.String()
	}
	c := *u
	_, hasPassword := u.User.Password()
	switch {
	case hasPassword:
		c.User = url.UserPassword(u.User.Username(), "xxxxx")
	case hideUser:
		c.User = url.User("xxxxx")
	}
	return c.String()
}

// OpenError is the error an adapter's Open returns when the broker cannot be
// reached, refuses it or cannot be set up: one line naming the port, the
// address without credentials, and the cause, of kind errs.Unavailable.
// Anything secret in u is scrubbed from the cause's text too, in case a
// client library quoted its URL. errors.Is and errors.As still see the cause.
func OpenError(u *url.URL, hideUser bool, cause error) error {
	msg := cause.Error()
	if u != nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		} else if hideUser && u.User.Username() != "" {
			msg = strings.ReplaceAll(msg, u.User.Username(), "xxxxx")
		}
	}
	return &openError{addr: Redact(u, hideUser), msg: msg, cause: cause}
}

type openError struct {
	addr, msg string
	cause     error
}

func (e *openError) Error() string { return "bus: cannot open " + e.addr + ": " + e.msg }

// Unwrap gives the kind (errs.KindOf finds the *errs.Error) and the cause.
func (e *openError) Unwrap() []error {
	return []error{errs.E(errs.Unavailable, "the event bus is unavailable"), e.cause}
}
