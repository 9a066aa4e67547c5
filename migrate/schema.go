package migrate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/store"
)

// catalog is what one store says about the tables of some services: their
// columns, primary keys and foreign keys. It is read from the store itself
// (sqlite_master and pragma_table_info; information_schema on PostgreSQL),
// so that migrate copies whatever the migrations made, not a list that could
// fall behind them.
type catalog struct {
	tables map[string]*tableInfo
	// all is every table of the store, prefix or not, version tables included.
	all map[string]bool
}

type tableInfo struct {
	cols []colInfo
	pk   []string
	// refs names the tables this one's foreign keys point to.
	refs []string
}

type colInfo struct {
	name, typ string
}

// versionTable is the table in which goose records a service's migrations
// (see store.DB.Migrate); the target's own migrations fill it, so it is
// never copied.
func versionTable(prefix string) string { return prefix + "schema_version" }

// owned reports whether table belongs to one of prefixes and is data (not
// a version table).
func owned(table string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(table, p) && table != versionTable(p) {
			return true
		}
	}
	return false
}

// readCatalog describes the tables of db that carry one of prefixes.
func readCatalog(ctx context.Context, db *store.DB, prefixes []string) (*catalog, error) {
	var names []string
	var err error
	switch db.Dialect() {
	case store.SQLite:
		names, err = strings1(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	case store.Postgres:
		names, err = strings1(ctx, db, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	default:
		return nil, fmt.Errorf("no catalog for dialect %q", db.Dialect())
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tables of %s: %w", db.URL(), err)
	}
	c := &catalog{tables: map[string]*tableInfo{}, all: map[string]bool{}}
	for _, name := range names {
		c.all[name] = true
		if !owned(name, prefixes) {
			continue
		}
		t, err := readTable(ctx, db, name)
		if err != nil {
			return nil, fmt.Errorf("describing %s in %s: %w", name, db.URL(), err)
		}
		c.tables[name] = t
	}
	return c, nil
}

func readTable(ctx context.Context, db *store.DB, name string) (*tableInfo, error) {
	t := &tableInfo{}
	if db.Dialect() == store.SQLite {
		if err := sqliteColumns(ctx, db, name, t); err != nil {
			return nil, err
		}
		refs, err := strings1(ctx, db, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, name)
		if err != nil {
			return nil, err
		}
		t.refs = refs
		return t, nil
	}

	rows, err := db.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c colInfo
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			rows.Close()
			return nil, err
		}
		t.cols = append(t.cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if t.pk, err = strings1(ctx, db, `SELECT k.column_name
		FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k
		  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND c.table_name = ? AND c.constraint_type = 'PRIMARY KEY'
		ORDER BY k.ordinal_position`, name); err != nil {
		return nil, err
	}
	if t.refs, err = strings1(ctx, db, `SELECT DISTINCT u.table_name
		FROM information_schema.table_constraints c
		JOIN information_schema.constraint_table_usage u
		  ON u.constraint_schema = c.constraint_schema AND u.constraint_name = c.constraint_name
		WHERE c.table_schema = current_schema() AND c.table_name = ? AND c.constraint_type = 'FOREIGN KEY'`, name); err != nil {
		return nil, err
	}
	return t, nil
}

// sqliteColumns fills t's columns and primary key from SQLite's
// table_info, which numbers the key's columns in key order.
func sqliteColumns(ctx context.Context, db *store.DB, name string, t *tableInfo) error {
	rows, err := db.Query(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, name)
	if err != nil {
		return err
	}
	// Closed before the caller's next query: a source SQLite store has a
	// single connection (see lockSQLite).
	defer rows.Close()
	type keyCol struct {
		name string
		pos  int
	}
	var keys []keyCol
	for rows.Next() {
		var c colInfo
		var pos int
		if err := rows.Scan(&c.name, &c.typ, &pos); err != nil {
			return err
		}
		t.cols = append(t.cols, c)
		if pos > 0 {
			keys = append(keys, keyCol{c.name, pos})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(keys, func(a, b keyCol) int { return a.pos - b.pos })
	for _, k := range keys {
		t.pk = append(t.pk, k.name)
	}
	return nil
}

// strings1 returns the first column of every row of a query.
func strings1(ctx context.Context, db *store.DB, q string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// table is one table as migrate moves it: the source's columns, each with
// the kind of the target's column of that name, and the primary key that
// orders the copy and the checksum.
type table struct {
	name string
	cols []column
	// key holds the indexes in cols of the primary key's columns, in key order.
	key []int
	// inSource and inTarget say where the table exists; a table only in the
	// target is verified (it must be empty), never copied.
	inSource, inTarget bool
}

type column struct {
	name string
	kind kind
}

// plan matches the source's tables with the target's and orders them so
// that every table comes after the tables its foreign keys point to. A
// source table or column the target lacks, or a table without a primary
// key, stops the move before anything is copied.
func plan(src, dst *catalog) ([]*table, error) {
	var problems []string
	var out []*table
	for name, s := range src.tables {
		d, ok := dst.tables[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is in the source but not in the target", name))
			continue
		}
		t := &table{name: name, inSource: true, inTarget: true}
		targetType := map[string]string{}
		for _, c := range d.cols {
			targetType[c.name] = c.typ
		}
		for _, c := range s.cols {
			typ, ok := targetType[c.name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s is in the source but not in the target", name, c.name))
				continue
			}
			t.cols = append(t.cols, column{name: c.name, kind: kindOf(typ)})
		}
		if !slices.Equal(s.pk, d.pk) {
			problems = append(problems, fmt.Sprintf("%s has the primary key (%s) in the source but (%s) in the target",
				name, strings.Join(s.pk, ", "), strings.Join(d.pk, ", ")))
			continue
		}
		if len(s.pk) == 0 {
			// Without a key, neither the order of a checksum nor where an
			// interrupted copy stopped is defined.
			problems = append(problems, fmt.Sprintf("%s has no primary key", name))
			continue
		}
		for _, k := range s.pk {
			t.key = append(t.key, slices.IndexFunc(t.cols, func(c column) bool { return c.name == k }))
		}
		out = append(out, t)
	}
	for name, d := range dst.tables {
		if _, ok := src.tables[name]; ok || len(d.pk) == 0 {
			continue
		}
		t := &table{name: name, inTarget: true}
		for _, c := range d.cols {
			t.cols = append(t.cols, column{name: c.name, kind: kindOf(c.typ)})
		}
		for _, k := range d.pk {
			t.key = append(t.key, slices.IndexFunc(t.cols, func(c column) bool { return c.name == k }))
		}
		out = append(out, t)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("the source's tables do not match the target's: %s", strings.Join(problems, "; "))
	}
	refs := map[string][]string{}
	for _, c := range []*catalog{src, dst} {
		for name, t := range c.tables {
			refs[name] = append(refs[name], t.refs...)
		}
	}
	return parentsFirst(out, refs)
}

// parentsFirst orders tables so that each comes after every table it
// refers to (a row's parent must exist before the row in a target that
// enforces foreign keys), and by name where that leaves a choice.
func parentsFirst(tables []*table, refs map[string][]string) ([]*table, error) {
	slices.SortFunc(tables, func(a, b *table) int { return strings.Compare(a.name, b.name) })
	byName := map[string]*table{}
	for _, t := range tables {
		byName[t.name] = t
	}
	done := map[string]bool{}
	var out []*table
	for len(out) < len(tables) {
		progressed := false
		for _, t := range tables {
			if done[t.name] {
				continue
			}
			ready := true
			for _, r := range refs[t.name] {
				// A reference to itself or to a table that is not moved
				// asks for no order.
				if r != t.name && byName[r] != nil && !done[r] {
					ready = false
					break
				}
			}
			if ready {
				done[t.name] = true
				out = append(out, t)
				progressed = true
			}
		}
		if !progressed {
			var stuck []string
			for _, t := range tables {
				if !done[t.name] {
					stuck = append(stuck, t.name)
				}
			}
			return nil, fmt.Errorf("the foreign keys of %s refer to each other in a cycle: no copy order satisfies them", strings.Join(stuck, ", "))
		}
	}
	return out, nil
}

// quote quotes an identifier for both dialects.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// columnList is the table's columns, quoted and separated by commas.
func (t *table) columnList() string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quote(c.name)
	}
	return strings.Join(names, ", ")
}

// orderBy is the ORDER BY clause that walks the table in primary-key order,
// by bytes: PostgreSQL sorts text by the database's collation, which may
// not be byte order (en_US puts "a_b" after "ab"), while SQLite's default
// is byte order; both sides of a checksum must walk the rows alike.
func (t *table) orderBy(d store.Dialect) string {
	exprs := make([]string, len(t.key))
	for i, k := range t.key {
		exprs[i] = quote(t.cols[k].name)
		if d == store.Postgres && t.cols[k].kind == kindText {
			exprs[i] += ` COLLATE "C"`
		}
	}
	return " ORDER BY " + strings.Join(exprs, ", ")
}
