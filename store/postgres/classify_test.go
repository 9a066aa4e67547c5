package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/errs"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "from the server"} }
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	other := errors.New("something else")
	tests := []struct {
		name string
		in   error
		want errs.Kind // "" for nil; Internal for an error left as it is
	}{
		{"nil", nil, ""},
		{"unique violation", pg("23505"), errs.Conflict},
		{"wrapped unique violation", fmt.Errorf("insert: %w", pg("23505")), errs.Conflict},
		{"not null violation", pg("23502"), errs.Internal},
		{"foreign key violation", pg("23503"), errs.Internal},
		{"syntax error", pg("42601"), errs.Internal},
		{"connection failure", pg("08006"), errs.Unavailable},
		{"admin shutdown", pg("57P01"), errs.Unavailable},
		{"crash shutdown", pg("57P02"), errs.Unavailable},
		{"starting up", pg("57P03"), errs.Unavailable},
		{"too many connections", pg("53300"), errs.Unavailable},
		{"serialization failure", pg("40001"), errs.Unavailable},
		{"deadlock", pg("40P01"), errs.Unavailable},
		{"lock not available", pg("55P03"), errs.Unavailable},
		{"dial refused", dial, errs.Unavailable},
		{"bad connection", driver.ErrBadConn, errs.Unavailable},
		{"connection closed", fmt.Errorf("exec: %w", pgconn.ErrConnClosed), errs.Unavailable},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), errs.Unavailable},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), errs.Unavailable},
		{"canceled by the caller", context.Canceled, errs.Internal},
		{"deadline of the caller", fmt.Errorf("timeout: %w", context.DeadlineExceeded), errs.Internal},
		{"anything else", other, errs.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classify(tc.in)
			if k := errs.KindOf(got); k != tc.want {
				t.Errorf("classify(%v) kind %q, want %q", tc.in, k, tc.want)
			}
			if tc.in != nil && !errors.Is(got, tc.in) {
				t.Errorf("classify(%v) = %v lost the cause", tc.in, got)
			}
			if tc.want == errs.Internal && got != tc.in {
				t.Errorf("classify(%v) = %v, want it passed through", tc.in, got)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"postgres://herald:pw@db:5432/herald", "postgres://herald:xxxxx@db:5432/herald"},
		{"postgres://herald@db/herald?sslmode=disable", "postgres://herald@db/herald?sslmode=disable"},
		{"postgres://herald@db/herald?password=pw&sslmode=require", "postgres://herald@db/herald?password=xxxxx&sslmode=require"},
		{"postgresql://u:pw@db/h?password=pw", "postgresql://u:xxxxx@db/h?password=xxxxx"},
		{"postgres://u@db/h?sslmode=verify-full&sslpassword=pw", "postgres://u@db/h?sslmode=verify-full&sslpassword=xxxxx"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redact(u); got != tc.want {
			t.Errorf("redact(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query     string
		want      pool
		wantQuery string
		wantField string
	}{
		{"", pool{DefaultMaxConns, DefaultMaxConns, DefaultMaxConnLifetime, DefaultMaxConnIdleTime}, "", ""},
		{"sslmode=disable&pool_max_conns=4", pool{4, 4, DefaultMaxConnLifetime, DefaultMaxConnIdleTime}, "sslmode=disable", ""},
		{"pool_max_conns=4&pool_max_idle_conns=9", pool{4, 4, DefaultMaxConnLifetime, DefaultMaxConnIdleTime}, "", ""},
		{"pool_max_idle_conns=0&pool_max_conn_lifetime=0&pool_max_conn_idle_time=90s&search_path=x",
			pool{DefaultMaxConns, 0, 0, 90e9}, "search_path=x", ""},
		{"pool_max_conns=0", pool{}, "", "pool_max_conns"},
		{"pool_max_conns=1", pool{}, "", "pool_max_conns"},
		{"pool_max_idle_conns=-1", pool{}, "", "pool_max_idle_conns"},
		{"pool_max_conn_lifetime=-1s", pool{}, "", "pool_max_conn_lifetime"},
		{"pool_max_conn_idle_time=forever", pool{}, "", "pool_max_conn_idle_time"},
		{"pool_min_conns=2", pool{}, "", "pool_min_conns"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			u := &url.URL{Scheme: "postgres", Host: "db", Path: "/h", RawQuery: tc.query}
			got, rest, err := parseOptions(u)
			if tc.wantField != "" {
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.Invalid || e.Fields[tc.wantField] == "" {
					t.Fatalf("err = %v, want an Invalid error naming %s", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("pool %+v, want %+v", got, tc.want)
			}
			if rest.RawQuery != tc.wantQuery {
				t.Errorf("query left for pgx %q, want %q", rest.RawQuery, tc.wantQuery)
			}
			if u.RawQuery != tc.query {
				t.Errorf("the caller's URL was changed to %q", u.RawQuery)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	cause := errors.New("failed to connect:\n\t127.0.0.1: refused\n\t::1: refused")
	e := oneLine{cause}
	if got, want := e.Error(), "failed to connect: 127.0.0.1: refused; ::1: refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("the cause is lost")
	}
}
