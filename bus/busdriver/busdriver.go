package busdriver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/errs"
)

// ErrClosed is returned by every operation on a closed bus.
var ErrClosed = bus.ErrClosed

// MaxTopicLen bounds a topic, so that a topic with its prefix fits any
// broker's limit on subject, routing key and name lengths (AMQP: 255 bytes).
const MaxTopicLen = 200

// CheckTopic returns what is wrong with topic, or "" when every broker can
// carry it: one or more words of ASCII letters, digits, '_' and '-',
// separated by single dots ("post.due"). The rule keeps out what brokers read
// as syntax: NATS and AMQP wildcards ('*', '>', '#'), whitespace, and empty
// words.
func CheckTopic(topic string) string {
	switch {
	case topic == "":
		return "must not be empty"
	case len(topic) > MaxTopicLen:
		return fmt.Sprintf("must be at most %d bytes", MaxTopicLen)
	}
	word := 0
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		switch {
		case c == '.':
			if word == 0 {
				return "must not have an empty word (a leading, trailing or doubled '.')"
			}
			word = 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
			word++
		default:
			return fmt.Sprintf("must be made of letters, digits, '_' and '-' separated by '.', not %q", rune(c))
		}
	}
	if word == 0 {
		return "must not have an empty word (a leading, trailing or doubled '.')"
	}
	return ""
}

// ValidateMessages rejects a batch with any malformed message, naming
// "msgs[i]", "msgs[i].id" or "msgs[i].topic", so that Publish sends all of a
// batch or none of it. The happy path allocates nothing.
func ValidateMessages(msgs []*bus.Message) error {
	ok := true
	for _, m := range msgs {
		if m == nil || m.ID == "" || CheckTopic(m.Topic) != "" {
			ok = false
			break
		}
	}
	if ok {
		return nil
	}
	var f errs.Fields
	for i, m := range msgs {
		at := fmt.Sprintf("msgs[%d]", i)
		if m == nil {
			f.Add(at, "must not be nil")
			continue
		}
		if m.ID == "" {
			f.Add(at+".id", "must not be empty: consumers deduplicate by it")
		}
		if why := CheckTopic(m.Topic); why != "" {
			f.Add(at+".topic", "%s", why)
		}
	}
	return f.Err()
}

// ValidateSubscribe rejects bad Subscribe arguments, naming "topic", "group"
// or "handler".
func ValidateSubscribe(topic, group string, h bus.Handler) error {
	var f errs.Fields
	if why := CheckTopic(topic); why != "" {
		f.Add("topic", "%s", why)
	}
	if group == "" {
		f.Add("group", "must not be empty")
	}
	if h == nil {
		f.Add("handler", "must not be nil")
	}
	return f.Err()
}

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
