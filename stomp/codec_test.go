package stomp_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/stomp"
)

// headers lists a frame's headers as name, value pairs, for comparisons.
func headers(h stomp.Header) []string {
	var out []string
	for k, v := range h.All() {
		out = append(out, k, v)
	}
	return out
}

func encode(t *testing.T, f *stomp.Frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := stomp.NewWriter(&buf)
	if err := w.Write(f); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return buf.Bytes()
}

func TestReadWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		wire    string
		command string
		headers []string // name, value...; nil: none
		body    string
	}{
		{"minimal", "RECEIPT\nreceipt-id:r1\n\n\x00", "RECEIPT", []string{"receipt-id", "r1"}, ""},
		{"CRLF line ends", "RECEIPT\r\nreceipt-id:r1\r\n\r\n\x00", "RECEIPT", []string{"receipt-id", "r1"}, ""},
		{"heart-beats before the frame", "\n\r\n\nRECEIPT\nreceipt-id:r1\n\n\x00", "RECEIPT", []string{"receipt-id", "r1"}, ""},
		{"body with NULs by content-length", "MESSAGE\ncontent-length:5\n\na\x00b\x00c\x00", "MESSAGE", []string{"content-length", "5"}, "a\x00b\x00c"},
		{"body up to the first NUL", "MESSAGE\nx:y\n\nhello world\x00", "MESSAGE", []string{"x", "y"}, "hello world"},
		{"empty body with content-length 0", "MESSAGE\ncontent-length:0\n\n\x00", "MESSAGE", []string{"content-length", "0"}, ""},
		{"repeated header: both kept, first counts", "MESSAGE\nfoo:1\nfoo:2\n\n\x00", "MESSAGE", []string{"foo", "1", "foo", "2"}, ""},
		{"escapes in name and value", "MESSAGE\na\\cb:c\\nd\\re\\\\f\n\n\x00", "MESSAGE", []string{"a:b", "c\nd\re\\f"}, ""},
		{"raw colon in a value is kept", "MESSAGE\nurl:http://x\n\n\x00", "MESSAGE", []string{"url", "http://x"}, ""},
		{"empty value", "MESSAGE\nempty:\n\n\x00", "MESSAGE", []string{"empty", ""}, ""},
		{"CONNECTED is not unescaped", "CONNECTED\nsession:a\\cb\nversion:1.2\n\n\x00", "CONNECTED", []string{"session", `a\cb`, "version", "1.2"}, ""},
		{"no headers", "DISCONNECT\n\n\x00", "DISCONNECT", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := stomp.NewReader(strings.NewReader(tt.wire), stomp.Limits{})
			f, err := r.Read()
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if f.Command != tt.command {
				t.Errorf("Command = %q, want %q", f.Command, tt.command)
			}
			if got := headers(f.Header); !slices.Equal(got, tt.headers) {
				t.Errorf("headers = %q, want %q", got, tt.headers)
			}
			if string(f.Body) != tt.body {
				t.Errorf("Body = %q, want %q", f.Body, tt.body)
			}
			if _, err := r.Read(); err != io.EOF {
				t.Errorf("Read after the only frame = %v, want io.EOF", err)
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	t.Parallel()
	small := stomp.Limits{MaxLine: 32, MaxHeaders: 3, MaxBody: 8}
	tests := []struct {
		name string
		wire string
		lim  stomp.Limits
		want error
	}{
		{"undefined escape", "MESSAGE\nx:a\\tb\n\n\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"lone backslash", "MESSAGE\nx:ab\\\n\n\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"header without colon", "MESSAGE\nnocolon\n\n\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"body longer than content-length", "MESSAGE\ncontent-length:2\n\nabc\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"content-length not a number", "MESSAGE\ncontent-length:two\n\nab\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"negative content-length", "MESSAGE\ncontent-length:-1\n\n\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"CR without LF between frames", "\rRECEIPT\n\n\x00", stomp.Limits{}, stomp.ErrProtocol},
		{"line over the limit", "MESSAGE\nx:" + strings.Repeat("v", 40) + "\n\n\x00", small, stomp.ErrProtocol},
		{"too many headers", "MESSAGE\na:1\nb:2\nc:3\nd:4\n\n\x00", small, stomp.ErrProtocol},
		{"content-length over the limit", "MESSAGE\ncontent-length:9\n\n123456789\x00", small, stomp.ErrProtocol},
		{"NUL-terminated body over the limit", "MESSAGE\n\n123456789\x00", small, stomp.ErrProtocol},
		{"end of stream in the headers", "MESSAGE\nx:y\n", stomp.Limits{}, io.ErrUnexpectedEOF},
		{"end of stream in the body", "MESSAGE\ncontent-length:5\n\nab", stomp.Limits{}, io.ErrUnexpectedEOF},
		{"end of stream before the NUL", "MESSAGE\n\nabc", stomp.Limits{}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := stomp.NewReader(strings.NewReader(tt.wire), tt.lim).Read()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %+v, %v; want an error wrapping %v", f, err, tt.want)
			}
		})
	}
}

func TestReadWithinLimits(t *testing.T) {
	t.Parallel()
	// Exactly at each limit is still fine.
	lim := stomp.Limits{MaxLine: 8, MaxHeaders: 2, MaxBody: 4}
	wire := "MESSAGE\nabc:1234\nd:e\ncontent-length:4\n\nwxyz\x00"
	// content-length is a third header: over MaxHeaders.
	if _, err := stomp.NewReader(strings.NewReader(wire), lim).Read(); !errors.Is(err, stomp.ErrProtocol) {
		t.Fatalf("3 headers with MaxHeaders 2: %v, want a protocol error", err)
	}
	wire = "MESSAGE\nabc:1234\n\nwxyz\x00"
	f, err := stomp.NewReader(strings.NewReader(wire), lim).Read()
	if err != nil {
		t.Fatalf("frame at the limits: %v", err)
	}
	if string(f.Body) != "wxyz" || f.Header.Get("abc") != "1234" {
		t.Errorf("frame at the limits read as %q %v", f.Body, headers(f.Header))
	}
}

func TestWriteWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame *stomp.Frame
		wire  string
	}{
		{"escapes headers", &stomp.Frame{Command: "SEND", Header: hdr("destination", "/queue/a", "we:ird", "line\nbreak\r\\")},
			"SEND\ndestination:/queue/a\nwe\\cird:line\\nbreak\\r\\\\\ncontent-length:0\n\n\x00"},
		{"adds content-length for a body", &stomp.Frame{Command: "SEND", Header: hdr("destination", "d"), Body: []byte("a\x00b")},
			"SEND\ndestination:d\ncontent-length:3\n\na\x00b\x00"},
		{"keeps a matching content-length", &stomp.Frame{Command: "SEND", Header: hdr("content-length", "2", "destination", "d"), Body: []byte("ab")},
			"SEND\ncontent-length:2\ndestination:d\n\nab\x00"},
		{"no content-length on a bodiless ACK", &stomp.Frame{Command: "ACK", Header: hdr("id", "7")},
			"ACK\nid:7\n\n\x00"},
		{"CONNECT is not escaped", &stomp.Frame{Command: "CONNECT", Header: hdr("accept-version", "1.2", "passcode", `p\w`)},
			"CONNECT\naccept-version:1.2\npasscode:p\\w\n\n\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(encode(t, tt.frame)); got != tt.wire {
				t.Errorf("wire = %q, want %q", got, tt.wire)
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame *stomp.Frame
	}{
		{"empty command", &stomp.Frame{}},
		{"command with a newline", &stomp.Frame{Command: "SEND\nX"}},
		{"content-length that disagrees", &stomp.Frame{Command: "SEND", Header: hdr("content-length", "5"), Body: []byte("ab")}},
		{"newline in a CONNECT value", &stomp.Frame{Command: "CONNECT", Header: hdr("passcode", "a\nb")}},
		{"colon in a CONNECT name", &stomp.Frame{Command: "CONNECT", Header: hdr("a:b", "c")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w := stomp.NewWriter(&buf)
			if err := w.Write(tt.frame); !errors.Is(err, stomp.ErrProtocol) {
				t.Fatalf("Write = %v, want a protocol error", err)
			}
			if w.Buffered() != 0 {
				t.Errorf("a refused frame left %d bytes in the buffer", w.Buffered())
			}
		})
	}
}

// Whatever is written reads back the same, over one stream with
// heart-beats between frames.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	frames := []*stomp.Frame{
		{Command: "SEND", Header: hdr("destination", "/topic/x", "k:1", "v\n2", `back\slash`, "\r"), Body: []byte{0, 1, 2, 0, 255}},
		{Command: "MESSAGE", Header: hdr("a", "1", "a", "2"), Body: bytes.Repeat([]byte("herald\x00"), 10000)},
		{Command: "SUBSCRIBE", Header: hdr("id", "s1", "destination", "/queue/q", "ack", "client-individual")},
		{Command: "CONNECTED", Header: hdr("version", "1.2", "session", `a\cb`)},
		{Command: "ERROR", Header: hdr("message", "bad: thing")},
	}
	var buf bytes.Buffer
	w := stomp.NewWriter(&buf)
	for _, f := range frames {
		if err := w.Write(f); err != nil {
			t.Fatalf("Write(%s): %v", f.Command, err)
		}
		w.WriteHeartBeat()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := stomp.NewReader(&buf, stomp.Limits{})
	for _, want := range frames {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("Read (want %s): %v", want.Command, err)
		}
		equalFrames(t, got, want)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("Read after the last frame = %v, want io.EOF", err)
	}
}

// equalFrames compares frames, ignoring the content-length the writer adds.
func equalFrames(t *testing.T, got, want *stomp.Frame) {
	t.Helper()
	g := got.Header.Clone()
	if _, ok := want.Header.Lookup("content-length"); !ok {
		g.Del("content-length")
	}
	if got.Command != want.Command || !slices.Equal(headers(g), headers(want.Header)) || !bytes.Equal(got.Body, want.Body) {
		t.Errorf("read back %s %q (%d bytes), want %s %q (%d bytes)", got.Command, headers(g), len(got.Body), want.Command, headers(want.Header), len(want.Body))
	}
}

func hdr(pairs ...string) stomp.Header { return stomp.NewFrame("X", pairs...).Header }

func TestHeader(t *testing.T) {
	t.Parallel()
	var h stomp.Header
	h.Add("a", "1")
	h.Add("b", "2")
	h.Add("a", "3")
	if got := h.Get("a"); got != "1" {
		t.Errorf("Get(a) = %q, want the first, 1", got)
	}
	if _, ok := h.Lookup("zz"); ok {
		t.Error("Lookup of a missing header reported it present")
	}
	c := h.Clone()
	h.Set("a", "9")
	if got := headers(h); !slices.Equal(got, []string{"a", "9", "b", "2", "a", "3"}) {
		t.Errorf("after Set: %q", got)
	}
	if got := c.Get("a"); got != "1" {
		t.Errorf("the clone changed with the original: a = %q", got)
	}
	h.Del("a")
	if got := headers(h); !slices.Equal(got, []string{"b", "2"}) || h.Len() != 1 {
		t.Errorf("after Del: %q (Len %d)", got, h.Len())
	}
	h.Set("passcode", "s3cret")
	if s := h.String(); strings.Contains(s, "s3cret") {
		t.Errorf("String shows the passcode: %q", s)
	}
}

// FuzzRead: no input panics the reader, and a frame it accepts encodes and
// reads back the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte("MESSAGE\na\\cb:c\\nd\ncontent-length:3\n\na\x00b\x00"))
	f.Add([]byte("\r\n\nCONNECTED\nversion:1.2\n\n\x00"))
	f.Add([]byte("SEND\ndestination:x\n\nbody\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := stomp.Limits{MaxLine: 256, MaxHeaders: 16, MaxBody: 1024}
		fr, err := stomp.NewReader(bytes.NewReader(data), lim).Read()
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := stomp.NewWriter(&buf)
		if err := w.Write(fr); err != nil {
			// Unescaped CONNECTED values cannot hold what escapes carried;
			// anything else that was read must be writable.
			if fr.Command == "CONNECTED" || fr.Command == "CONNECT" || fr.Command == "STOMP" {
				return
			}
			t.Fatalf("a frame that was read cannot be written: %v (%s %q)", err, fr.Command, headers(fr.Header))
		}
		w.Flush()
		back, err := stomp.NewReader(&buf, stomp.Limits{}).Read()
		if err != nil {
			t.Fatalf("reading back %q: %v", buf.Bytes(), err)
		}
		equalFrames(t, back, fr)
	})
}
