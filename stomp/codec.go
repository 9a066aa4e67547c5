package stomp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrProtocol is wrapped by every error about a malformed frame, from the
// peer or from the caller.
var ErrProtocol = errors.New("stomp: protocol error")

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Limits bound what a Reader accepts, so a broken or hostile peer cannot
// make it allocate without end. Zero fields take the DefaultLimits value.
type Limits struct {
	// MaxLine is the longest command or header line, in bytes, escapes
	// included.
	MaxLine int
	// MaxHeaders is the most header lines one frame may have.
	MaxHeaders int
	// MaxBody is the longest body, in bytes.
	MaxBody int
}

// DefaultLimits are generous for an event bus and still bounded.
var DefaultLimits = Limits{MaxLine: 64 << 10, MaxHeaders: 1000, MaxBody: 32 << 20}

func (l Limits) orDefault() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultLimits.MaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultLimits.MaxBody
	}
	return l
}

// Reader decodes frames from a stream.
type Reader struct {
	br  *bufio.Reader
	lim Limits
}

// NewReader returns a Reader of r that enforces lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.orDefault()
	// ReadSlice reports a line longer than the buffer, which is how a line
	// beyond the limit is caught without reading it whole.
	return &Reader{br: bufio.NewReaderSize(r, max(4096, lim.MaxLine+2)), lim: lim}
}

// Read returns the next frame. End-of-lines between frames are heart-beats
// and are skipped. It returns io.EOF when the stream ends cleanly between
// frames, and an error wrapping ErrProtocol for a malformed frame, after
// which the stream cannot be trusted any more.
func (r *Reader) Read() (*Frame, error) {
	if err := r.skipHeartBeats(); err != nil {
		return nil, err
	}
	cmd, err := r.line()
	if err != nil {
		return nil, err
	}
	f := &Frame{Command: string(cmd)}
	if !known[f.Command] {
		// Not STOMP at all (an HTTP or TLS server, say): say so now rather
		// than wait for a NUL that never comes.
		return nil, protocolErr("unknown command %.40q", f.Command)
	}
	esc := escapes(f.Command)
	for n := 0; ; n++ {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if n == r.lim.MaxHeaders {
			return nil, protocolErr("%s frame has more than %d headers", f.Command, r.lim.MaxHeaders)
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			return nil, protocolErr("%s frame has a header line without a colon: %.40q", f.Command, line)
		}
		name, value := line[:i], line[i+1:]
		if !esc {
			f.Header.Add(string(name), string(value))
			continue
		}
		un, err := unescape(name)
		if err != nil {
			return nil, err
		}
		uv, err := unescape(value)
		if err != nil {
			return nil, err
		}
		f.Header.Add(un, uv)
	}
	if f.Body, err = r.body(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (r *Reader) skipHeartBeats() error {
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return err // io.EOF between frames is a clean end
		}
		switch b {
		case '\n':
			continue
		case '\r':
			if b, err := r.br.ReadByte(); err != nil || b != '\n' {
				return protocolErr("carriage return not followed by a line feed between frames")
			}
			continue
		}
		return r.br.UnreadByte()
	}
}

// line returns the next line without its end-of-line ("\n" or "\r\n"). The
// slice is only valid until the next read.
func (r *Reader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > r.lim.MaxLine+2:
		return nil, protocolErr("line longer than %d bytes", r.lim.MaxLine)
	case errors.Is(err, io.EOF):
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > r.lim.MaxLine {
		return nil, protocolErr("line longer than %d bytes", r.lim.MaxLine)
	}
	return line, nil
}

// body reads the body and its terminating NUL: content-length octets when
// the header gives it (the body may then hold NULs), else up to the first
// NUL.
func (r *Reader) body(f *Frame) ([]byte, error) {
	if cl, ok := f.Header.Lookup("content-length"); ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, protocolErr("%s frame has a bad content-length %q", f.Command, cl)
		}
		if n > r.lim.MaxBody {
			return nil, protocolErr("%s frame body of %d bytes is over the limit of %d", f.Command, n, r.lim.MaxBody)
		}
		var body []byte
		if n > 0 {
			body = make([]byte, n)
			if _, err := io.ReadFull(r.br, body); err != nil {
				return nil, unexpected(err)
			}
		}
		b, err := r.br.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		if b != 0 {
			return nil, protocolErr("%s frame body is longer than its content-length %d", f.Command, n)
		}
		return body, nil
	}
	var body []byte
	for {
		chunk, err := r.br.ReadSlice(0)
		if len(body)+len(chunk) > r.lim.MaxBody+1 {
			return nil, protocolErr("%s frame body is over the limit of %d bytes", f.Command, r.lim.MaxBody)
		}
		switch {
		case err == nil:
			body = append(body, chunk[:len(chunk)-1]...)
			if len(body) == 0 {
				return nil, nil
			}
			return body, nil
		case errors.Is(err, bufio.ErrBufferFull):
			body = append(body, chunk...)
		default:
			return nil, unexpected(err)
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// unescape decodes a header name or value of STOMP 1.2. An undefined escape
// is a protocol error: the spec makes it fatal.
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	var s strings.Builder
	s.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			s.WriteByte(c)
			continue
		}
		if i+1 == len(b) {
			return "", protocolErr("header ends with a lone backslash")
		}
		i++
		switch b[i] {
		case 'r':
			s.WriteByte('\r')
		case 'n':
			s.WriteByte('\n')
		case 'c':
			s.WriteByte(':')
		case '\\':
			s.WriteByte('\\')
		default:
			return "", protocolErr("undefined escape sequence \\%c in a header", b[i])
		}
	}
	return s.String(), nil
}

// Writer encodes frames onto a stream. It buffers: call Flush to send.
type Writer struct {
	bw *bufio.Writer
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{bw: bufio.NewWriterSize(w, 32<<10)} }

// Write encodes f into the buffer. Headers are escaped, except in CONNECT
// and CONNECTED frames, whose headers therefore must not hold a line end or
// (in a name) a colon. A frame that may carry a body (SEND, MESSAGE, ERROR)
// or that has one gets a content-length header when it has none, so its
// body may hold NULs; a content-length that disagrees with the body is an
// error. Nothing is written for a frame that is refused.
func (w *Writer) Write(f *Frame) error {
	if err := check(f); err != nil {
		return err
	}
	bw := w.bw
	bw.WriteString(f.Command)
	bw.WriteByte('\n')
	esc := escapes(f.Command)
	for name, value := range f.Header.All() {
		writeEscaped(bw, name, esc)
		bw.WriteByte(':')
		writeEscaped(bw, value, esc)
		bw.WriteByte('\n')
	}
	if _, ok := f.Header.Lookup("content-length"); !ok && (len(f.Body) > 0 || hasBody(f.Command)) {
		bw.WriteString("content-length:")
		bw.WriteString(strconv.Itoa(len(f.Body)))
		bw.WriteByte('\n')
	}
	bw.WriteByte('\n')
	bw.Write(f.Body)
	// bufio.Writer keeps its first error and returns it from every later
	// call, so checking the last one is enough.
	return bw.WriteByte(0)
}

// WriteHeartBeat writes one end-of-line, STOMP's heart-beat.
func (w *Writer) WriteHeartBeat() error { return w.bw.WriteByte('\n') }

// Flush sends what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered is how many bytes wait for Flush.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

func hasBody(command string) bool {
	return command == CmdSend || command == CmdMessage || command == CmdError
}

// known are the commands of STOMP 1.2, from clients and from servers.
var known = map[string]bool{
	CmdConnect: true, CmdStomp: true, CmdConnected: true, CmdSend: true, CmdSubscribe: true,
	CmdUnsubscribe: true, CmdAck: true, CmdNack: true, CmdBegin: true, CmdCommit: true,
	CmdAbort: true, CmdDisconnect: true, CmdMessage: true, CmdReceipt: true, CmdError: true,
}

// validCommand: a command is a word on its line; a colon would make it look
// like a header, a NUL like the end of a frame.
func validCommand(c string) bool { return c != "" && !strings.ContainsAny(c, "\r\n\x00:") }

func check(f *Frame) error {
	if !validCommand(f.Command) {
		return protocolErr("bad command %q", f.Command)
	}
	esc := escapes(f.Command)
	for name, value := range f.Header.All() {
		if !esc && (strings.ContainsAny(name, "\r\n:") || strings.ContainsAny(value, "\r\n")) {
			return protocolErr("%s header %q cannot be sent unescaped", f.Command, name)
		}
	}
	if cl, ok := f.Header.Lookup("content-length"); ok && cl != strconv.Itoa(len(f.Body)) {
		return protocolErr("%s frame has content-length %q but a body of %d bytes", f.Command, cl, len(f.Body))
	}
	return nil
}

func writeEscaped(bw *bufio.Writer, s string, esc bool) {
	if !esc || !strings.ContainsAny(s, "\\\r\n:") {
		bw.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			bw.WriteString(`\\`)
		case '\r':
			bw.WriteString(`\r`)
		case '\n':
			bw.WriteString(`\n`)
		case ':':
			bw.WriteString(`\c`)
		default:
			bw.WriteByte(c)
		}
	}
}
