package bus

import (
	"fmt"

	"github.com/heraldhq/herald/errs"
)

// Every adapter checks its arguments with these, so a message one bus
// accepts is one every bus accepts.

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
func ValidateMessages(msgs []*Message) error {
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
func ValidateSubscribe(topic, group string, h Handler) error {
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
