package stomp

import (
	"iter"
	"strings"
)

// Commands of STOMP 1.2 that this package sends or understands.
const (
	CmdConnect     = "CONNECT"
	CmdStomp       = "STOMP"
	CmdConnected   = "CONNECTED"
	CmdSend        = "SEND"
	CmdSubscribe   = "SUBSCRIBE"
	CmdUnsubscribe = "UNSUBSCRIBE"
	CmdAck         = "ACK"
	CmdNack        = "NACK"
	CmdBegin       = "BEGIN"
	CmdCommit      = "COMMIT"
	CmdAbort       = "ABORT"
	CmdDisconnect  = "DISCONNECT"
	CmdMessage     = "MESSAGE"
	CmdReceipt     = "RECEIPT"
	CmdError       = "ERROR"
)

// Frame is one STOMP frame. Header values are kept unescaped: the codec
// escapes and unescapes them on the wire.
type Frame struct {
	Command string
	Header  Header
	Body    []byte
}

// NewFrame returns a frame with the given command and header pairs
// (name, value, name, value, ...).
func NewFrame(command string, pairs ...string) *Frame {
	f := &Frame{Command: command}
	for i := 0; i+1 < len(pairs); i += 2 {
		f.Header.Add(pairs[i], pairs[i+1])
	}
	return f
}

// Header is a frame's headers in wire order. A name may repeat; STOMP 1.2
// says only its first occurrence counts, which is what Get returns. The
// zero value is an empty header.
type Header struct {
	// kv holds name, value, name, value... A slice keeps the order the
	// peer sent and costs no map per frame.
	kv []string
}

// Add appends a header, even if the name is already present.
func (h *Header) Add(name, value string) { h.kv = append(h.kv, name, value) }

// Set replaces the first header with this name, or adds it.
func (h *Header) Set(name, value string) {
	for i := 0; i < len(h.kv); i += 2 {
		if h.kv[i] == name {
			h.kv[i+1] = value
			return
		}
	}
	h.Add(name, value)
}

// Get returns the value of the first header with this name, or "".
func (h Header) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the value of the first header with this name.
func (h Header) Lookup(name string) (string, bool) {
	for i := 0; i < len(h.kv); i += 2 {
		if h.kv[i] == name {
			return h.kv[i+1], true
		}
	}
	return "", false
}

// Del removes every header with this name.
func (h *Header) Del(name string) {
	out := h.kv[:0]
	for i := 0; i < len(h.kv); i += 2 {
		if h.kv[i] != name {
			out = append(out, h.kv[i], h.kv[i+1])
		}
	}
	clear(h.kv[len(out):])
	h.kv = out
}

// Len is the number of headers, repeats included.
func (h Header) Len() int { return len(h.kv) / 2 }

// All yields every header in order, repeats included.
func (h Header) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := 0; i < len(h.kv); i += 2 {
			if !yield(h.kv[i], h.kv[i+1]) {
				return
			}
		}
	}
}

// Clone returns a copy that shares nothing with h.
func (h Header) Clone() Header {
	if h.kv == nil {
		return Header{}
	}
	return Header{kv: append([]string(nil), h.kv...)}
}

// String renders the header for debugging, one "name:value" per line,
// without escaping. It never shows a passcode.
func (h Header) String() string {
	var b strings.Builder
	for name, value := range h.All() {
		if name == "passcode" {
			value = "xxxxx"
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	return b.String()
}

// escapes reports whether frames with this command escape their headers:
// STOMP 1.2 exempts CONNECT and CONNECTED, for compatibility with 1.0 peers
// that must be able to read the version negotiation.
func escapes(command string) bool {
	return command != CmdConnect && command != CmdConnected && command != CmdStomp
}
