package migrate

import (
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	posts := func() *tableInfo {
		return &tableInfo{cols: []colInfo{{"id", "TEXT"}, {"synced", "BOOLEAN"}, {"due_at", "BIGINT"}}, pk: []string{"id"}}
	}
	pgPosts := func() *tableInfo {
		return &tableInfo{cols: []colInfo{{"id", "text"}, {"due_at", "bigint"}, {"synced", "boolean"}}, pk: []string{"id"}}
	}
	cat := func(tables map[string]*tableInfo) *catalog { return &catalog{tables: tables} }
	tests := []struct {
		name     string
		src, dst *catalog
		want     string // in the error; empty: a plan
	}{
		{"the same tables", cat(map[string]*tableInfo{"p_posts": posts()}), cat(map[string]*tableInfo{"p_posts": pgPosts()}), ""},
		{"a table the target lacks", cat(map[string]*tableInfo{"p_posts": posts()}), cat(nil), "p_posts is in the source but not in the target"},
		{"a column the target lacks", cat(map[string]*tableInfo{"p_posts": posts()}),
			cat(map[string]*tableInfo{"p_posts": {cols: []colInfo{{"id", "text"}}, pk: []string{"id"}}}), "p_posts.synced is in the source"},
		{"another primary key", cat(map[string]*tableInfo{"p_posts": posts()}),
			cat(map[string]*tableInfo{"p_posts": {cols: pgPosts().cols, pk: []string{"id", "due_at"}}}), "primary key (id) in the source but (id, due_at)"},
		{"no primary key", cat(map[string]*tableInfo{"p_log": {cols: []colInfo{{"line", "TEXT"}}}}),
			cat(map[string]*tableInfo{"p_log": {cols: []colInfo{{"line", "text"}}}}), "p_log has no primary key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan(tc.src, tc.dst)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("plan: %v, want an error saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The source's column order, the target's kinds.
			p := got[0]
			if len(p.cols) != 3 || p.cols[1].name != "synced" || p.cols[1].kind != kindBool || p.cols[2].kind != kindInt || p.key[0] != 0 {
				t.Errorf("plan = %+v", p)
			}
		})
	}
}

// A table only the target holds is checked (it must stay empty) but never
// copied.
func TestPlanChecksTablesOnlyInTheTarget(t *testing.T) {
	t.Parallel()
	got, err := plan(&catalog{tables: map[string]*tableInfo{}}, &catalog{tables: map[string]*tableInfo{
		"p_outbox": {cols: []colInfo{{"seq_id", "text"}}, pk: []string{"seq_id"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].inSource || !got[0].inTarget {
		t.Errorf("plan = %+v", got)
	}
}
