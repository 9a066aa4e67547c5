package migrate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"time"
)

// kind is what a column holds, whatever each engine calls it: SQLite keeps
// the declared type as written (BOOLEAN, BYTEA) and stores by affinity,
// PostgreSQL names its own types (boolean, bytea, bigint).
type kind int

const (
	kindText kind = iota
	kindInt
	kindBool
	kindBytes
	kindFloat
)

func (k kind) String() string {
	return [...]string{"text", "integer", "boolean", "bytes", "float"}[k]
}

// kindOf maps a declared column type to its kind, with SQLite's affinity
// rules as the fallback so that any type either engine accepts has one.
func kindOf(declared string) kind {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "BOOL"):
		return kindBool
	case strings.Contains(t, "INT"):
		return kindInt
	case strings.Contains(t, "BYTEA"), strings.Contains(t, "BLOB"):
		return kindBytes
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return kindFloat
	}
	return kindText
}

// convert turns a value as one driver returned it into the Go value the
// target column takes: SQLite's driver returns int64 for BOOLEAN columns and
// may return []byte for TEXT, PostgreSQL's returns bool and string. NULL
// stays NULL. A value that cannot be represented is an error, never a
// silent change.
func convert(v any, k kind) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case string:
			return parseInt(x)
		case []byte:
			return parseInt(string(x))
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case int32:
			return x != 0, nil
		case int:
			return x != 0, nil
		case string:
			return parseBool(x)
		case []byte:
			return parseBool(string(x))
		}
	case kindBytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case kindFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case string:
			return strconv.ParseFloat(x, 64)
		case []byte:
			return strconv.ParseFloat(string(x), 64)
		}
	case kindText:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		}
	}
	return nil, fmt.Errorf("cannot store a %T (%.40v) in a %s column", v, v, k)
}

func parseInt(s string) (any, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

func parseBool(s string) (any, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a boolean", s)
	}
	return b, nil
}

// rowHash is the checksum of a table: SHA-256 over its rows in primary-key
// order, each value converted to the target column's kind and written with
// a tag and a length, so that two tables hash alike exactly when they hold
// the same values in the same order, whatever engine each came from.
type rowHash struct {
	h    hash.Hash
	rows int64
	buf  []byte
}

func newRowHash() *rowHash { return &rowHash{h: sha256.New()} }

// add hashes one row of converted values (see convert).
func (r *rowHash) add(vals []any) {
	b := r.buf[:0]
	for _, v := range vals {
		b = appendValue(b, v)
	}
	r.buf = b
	r.h.Write(b)
	r.rows++
}

// sum is the checksum in hexadecimal.
func (r *rowHash) sum() string { return fmt.Sprintf("%x", r.h.Sum(nil)) }

// appendValue writes v's canonical form: a tag, then the value in a form
// that says where it ends.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'N')
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 'i'), uint64(x))
	case bool:
		if x {
			return append(b, 'b', 1)
		}
		return append(b, 'b', 0)
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'f'), math.Float64bits(x))
	case []byte:
		b = binary.AppendUvarint(append(b, 'x'), uint64(len(x)))
		return append(b, x...)
	case string:
		b = binary.AppendUvarint(append(b, 's'), uint64(len(x)))
		return append(b, x...)
	}
	// convert only returns the types above.
	panic(fmt.Sprintf("migrate: no canonical form for %T", v))
}
