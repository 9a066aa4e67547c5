package migrate

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/store"
)

// tableSum is a table's row count and checksum in one store.
type tableSum struct {
	rows int64
	sum  string
}

// checksum reads every row of t in db in key order and returns their count
// and checksum (see rowHash). Both stores of a move are read with the same
// columns, kinds and order, so equal sums mean equal tables.
func checksum(ctx context.Context, db *store.DB, t *table) (tableSum, error) {
	h := newRowHash()
	rows, err := db.Query(ctx, `SELECT `+t.columnList()+` FROM `+quote(t.name)+t.orderBy(db.Dialect()))
	if err != nil {
		return tableSum{}, fmt.Errorf("reading %s in %s: %w", t.name, db.URL(), err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(rows, t)
		if err != nil {
			return tableSum{}, err
		}
		h.add(r)
	}
	if err := rows.Err(); err != nil {
		return tableSum{}, fmt.Errorf("reading %s in %s: %w", t.name, db.URL(), err)
	}
	return tableSum{rows: h.rows, sum: h.sum()}, nil
}

// verifyTable compares t in the source and the target, reading both at once.
func verifyTable(ctx context.Context, src, dst *store.DB, t *table) (TableCheck, error) {
	c := TableCheck{Table: t.name}
	type result struct {
		s   tableSum
		err error
	}
	fromSrc := make(chan result, 1)
	if t.inSource {
		go func() {
			s, err := checksum(ctx, src, t)
			fromSrc <- result{s, err}
		}()
	} else {
		fromSrc <- result{tableSum{sum: newRowHash().sum()}, nil}
	}
	d, derr := checksum(ctx, dst, t)
	s := <-fromSrc
	if s.err != nil {
		return c, s.err
	}
	if derr != nil {
		return c, derr
	}
	c.SourceRows, c.SourceSum = s.s.rows, s.s.sum
	c.TargetRows, c.TargetSum = d.rows, d.sum
	return c, nil
}
