package migrate

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/store"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := map[string]kind{
		// What the migrations declare, as SQLite reports them...
		"TEXT": kindText, "BIGINT": kindInt, "INTEGER": kindInt, "BOOLEAN": kindBool, "BYTEA": kindBytes,
		// ...and as PostgreSQL names them.
		"text": kindText, "bigint": kindInt, "integer": kindInt, "smallint": kindInt, "boolean": kindBool, "bytea": kindBytes,
		"character varying": kindText, "double precision": kindFloat, "real": kindFloat,
		// SQLite's affinity for the rest.
		"BLOB": kindBytes, "VARCHAR(40)": kindText, "": kindText,
	}
	for declared, want := range tests {
		if got := kindOf(declared); got != want {
			t.Errorf("kindOf(%q) = %s, want %s", declared, got, want)
		}
	}
}

func TestConvert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		kind kind
		want any
	}{
		{"SQLite's BOOLEAN true", int64(1), kindBool, true},
		{"SQLite's BOOLEAN false", int64(0), kindBool, false},
		{"PostgreSQL's boolean", true, kindBool, true},
		{"a boolean spelled out", "false", kindBool, false},
		{"an integer", int64(-42), kindInt, int64(-42)},
		{"a boolean into an integer column", true, kindInt, int64(1)},
		{"a whole float into an integer column", float64(7), kindInt, int64(7)},
		{"an integer as text", []byte("123"), kindInt, int64(123)},
		{"TEXT that SQLite returns as bytes", []byte("héllo"), kindText, "héllo"},
		{"text", "plain", kindText, "plain"},
		{"bytes", []byte{0, 1, 2}, kindBytes, []byte{0, 1, 2}},
		{"bytes stored as text", "abc", kindBytes, []byte("abc")},
		{"a float", 1.5, kindFloat, 1.5},
		{"NULL stays NULL", nil, kindInt, nil},
		{"an instant into text", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), kindText, "2026-01-02T03:04:05Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := convert(tc.in, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("convert(%#v, %s) = %#v, want %#v", tc.in, tc.kind, got, tc.want)
			}
		})
	}
}

func TestConvertRefusesWhatItCannotKeep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		kind kind
	}{
		{"yes please", kindBool},
		{"12abc", kindInt},
		{1.5, kindInt},
		{int64(3), kindBytes},
		{struct{}{}, kindText},
	}
	for _, tc := range tests {
		if got, err := convert(tc.in, tc.kind); err == nil {
			t.Errorf("convert(%#v, %s) = %#v, want an error", tc.in, tc.kind, got)
		}
	}
}

// The checksum tells apart what differs and only that: rows from either
// engine hash alike once converted, and a value moved from one column to
// the next, or text that looks like bytes, does not.
func TestRowHash(t *testing.T) {
	t.Parallel()
	sum := func(rows ...[]any) string {
		h := newRowHash()
		for _, r := range rows {
			h.add(r)
		}
		return h.sum()
	}
	fromSQLite, _ := convert(int64(1), kindBool)
	fromPostgres, _ := convert(true, kindBool)
	if sum([]any{"a", fromSQLite}) != sum([]any{"a", fromPostgres}) {
		t.Error("a boolean from SQLite and from PostgreSQL hash differently")
	}
	differ := [][2][][]any{
		{{{"ab", "c"}}, {{"a", "bc"}}},
		{{{"x"}}, {{[]byte("x")}}},
		{{{nil}}, {{""}}},
		{{{int64(0)}}, {{false}}},
		{{{"a"}, {"b"}}, {{"b"}, {"a"}}},
		{{{"a"}}, {{"a"}, {"a"}}},
	}
	for _, d := range differ {
		if sum(d[0]...) == sum(d[1]...) {
			t.Errorf("%v and %v hash alike", d[0], d[1])
		}
	}
	if got := sum(); got != sum() || len(got) != 64 {
		t.Errorf("the checksum of no rows is %q", got)
	}
}

func TestParentsFirst(t *testing.T) {
	t.Parallel()
	names := func(ts []*table) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.name)
		}
		return out
	}
	tables := func(names ...string) []*table {
		var out []*table
		for _, n := range names {
			out = append(out, &table{name: n})
		}
		return out
	}
	// Portal's foreign keys, as its migration declares them.
	refs := map[string][]string{
		"portal_users":        {"portal_agencies"},
		"portal_workspaces":   {"portal_agencies"},
		"portal_sessions":     {"portal_users"},
		"portal_memberships":  {"portal_workspaces", "portal_users"},
		"portal_posts":        {"portal_workspaces"},
		"portal_media":        {"portal_workspaces"},
		"portal_post_media":   {"portal_posts", "portal_media"},
		"portal_post_targets": {"portal_posts", "portal_gone"}, // a table not moved asks for nothing
		"portal_tree":         {"portal_tree"},                 // nor does a reference to itself
	}
	got, err := parentsFirst(tables("portal_post_media", "portal_tree", "portal_sessions", "portal_post_targets", "portal_memberships",
		"portal_posts", "portal_media", "portal_users", "portal_workspaces", "portal_agencies"), refs)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range names(got) {
		pos[n] = i
	}
	for child, parents := range refs {
		for _, p := range parents {
			if _, moved := pos[p]; moved && p != child && pos[p] > pos[child] {
				t.Errorf("%s comes before %s, which it refers to: %v", child, p, names(got))
			}
		}
	}
	if _, err := parentsFirst(tables("a", "b"), map[string][]string{"a": {"b"}, "b": {"a"}}); err == nil {
		t.Error("a cycle of foreign keys was given an order")
	}
}

func TestStatements(t *testing.T) {
	t.Parallel()
	tb := &table{name: "portal_post_media", cols: []column{{name: "post_id"}, {name: "position", kind: kindInt}, {name: "media_id"}}, key: []int{0, 1}}
	tests := []struct{ got, want string }{
		{insertStatement(tb, 2), `INSERT INTO "portal_post_media" ("post_id", "position", "media_id") VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT DO NOTHING`},
		// PostgreSQL orders text by the database's collation, which need not
		// be byte order as SQLite's is: both sides must walk rows alike.
		{tb.orderBy(store.Postgres), ` ORDER BY "post_id" COLLATE "C", "position"`},
		{tb.orderBy(store.SQLite), ` ORDER BY "post_id", "position"`},
		{quote(`we"ird`), `"we""ird"`},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
		}
	}
}
