package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/heraldhq/herald/id"
)

// schemaPrefix starts every schema the bench creates; each is dropped when
// its run ends, and one an interrupted run left behind is dropped by the
// next run once it is a day old.
const schemaPrefix = "herald_bench"

// freshSchema creates an empty schema on the server and returns its name
// and a function that drops it.
func freshSchema(ctx context.Context, base string) (string, func(), error) {
	conn, err := pgConnect(ctx, base, "")
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	dropStale(ctx, conn)
	schema := strings.ToLower(id.New(schemaPrefix))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		conn, err := pgConnect(ctx, base, "")
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}
	return schema, drop, nil
}

// dropStale drops bench schemas older than a day: no run lasts that long.
// Ids are ULIDs, so the name tells the age.
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, schemaPrefix+"_%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		u, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(n, schemaPrefix+"_")))
		if err == nil && time.Since(ulid.Time(u.Time())) > 24*time.Hour {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n}.Sanitize()+" CASCADE")
		}
	}
}

// withSearchPath returns base with search_path set to schema.
func withSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgConnect opens one connection, in schema when it is not empty.
func pgConnect(ctx context.Context, base, schema string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return nil, err
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = schema
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}
