package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/store"
)

// maxParams bounds the placeholders of one INSERT: SQLite takes at most
// 32,766 and PostgreSQL 65,535.
const maxParams = 30000

// copyTable copies the rows of t from src to dst in primary-key order, a
// batch per INSERT ... ON CONFLICT DO NOTHING, and returns how many rows it
// inserted. Each batch commits on its own, so an interrupted copy leaves
// part of the table in the target; running it again reads the whole table
// once more and inserts what the target lacks, wherever it lacks it (a
// resumed copy inserts exactly the rest, and a row lost since is found
// too), leaving the rows already there as they are.
// progress, if set, is called after each batch with the rows inserted so far.
func copyTable(ctx context.Context, src, dst *store.DB, t *table, batch int, progress func(inserted int64)) (int64, error) {
	per := max(1, min(batch, maxParams/len(t.cols)))
	q := `SELECT ` + t.columnList() + ` FROM ` + quote(t.name) + t.orderBy(src.Dialect())

	// The source is read by one streaming query while the target writes the
	// batch before: reading and writing overlap.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan [][]any, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- readRows(rctx, src, t, q, per, batches)
	}()

	insert := insertStatement(t, per)
	var inserted int64
	var werr error
	for rows := range batches {
		stmt := insert
		if len(rows) != per {
			stmt = insertStatement(t, len(rows))
		}
		flat := make([]any, 0, len(rows)*len(t.cols))
		for _, r := range rows {
			flat = append(flat, r...)
		}
		res, err := dst.Exec(ctx, stmt, flat...)
		if err != nil {
			werr = fmt.Errorf("writing %s: %w", t.name, err)
			break
		}
		n, err := res.RowsAffected()
		if err != nil {
			werr = err
			break
		}
		inserted += n
		if progress != nil {
			progress(inserted)
		}
	}
	cancel()
	for range batches { // let the reader finish
	}
	rerr := <-readErr
	if werr != nil {
		return inserted, werr
	}
	if err := ctx.Err(); err != nil {
		return inserted, err
	}
	return inserted, rerr
}

// readRows streams the rows of q, converted to the target's kinds, in
// batches of per rows.
func readRows(ctx context.Context, src *store.DB, t *table, q string, per int, out chan<- [][]any) error {
	rows, err := src.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("reading %s: %w", t.name, err)
	}
	defer rows.Close()
	b := make([][]any, 0, per)
	for rows.Next() {
		r, err := scanRow(rows, t)
		if err != nil {
			return err
		}
		b = append(b, r)
		if len(b) == per {
			select {
			case out <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			b = make([][]any, 0, per)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", t.name, err)
	}
	if len(b) > 0 {
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// scanRow reads the current row and converts each value to its target
// column's kind.
func scanRow(rows *sql.Rows, t *table) ([]any, error) {
	vals := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("reading %s: %w", t.name, err)
	}
	for i, c := range t.cols {
		v, err := convert(vals[i], c.kind)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.name, c.name, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// insertStatement is a multi-row INSERT of n rows that skips rows already
// there (by any unique key), which is what makes a second run harmless.
func insertStatement(t *table, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	var b strings.Builder
	b.Grow(64 + len(t.name) + n*(len(row)+2))
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(t.name))
	b.WriteString(" (")
	b.WriteString(t.columnList())
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	return b.String()
}
