package portal

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbound"
)

// importAt is a wall time in the workspace's zone (Europe/Paris) days from
// now, as a spreadsheet writes it.
func importAt(days int) string {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Now().In(loc).Add(time.Duration(days) * 24 * time.Hour).Format("2006-01-02 15:04")
}

func (a *agency) importCSV(t *testing.T, query, file string) *response {
	t.Helper()
	return a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/imports"+query, file, header("Content-Type", "text/csv"))
}

func TestImportDryRunListsEveryRowsProblemsAndCreatesNothing(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(d *Deps) { d.Outbound = outbound.NewClient(outbound.Policy{AllowLoopback: true}) })
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	file := "Text,Time,Accounts,Media_URLs\n" +
		"Fine,\"" + importAt(1) + "\",ada,\n" + // line 2
		"Bad time,next tuesday,ada,\n" + // line 3
		"Whose account,\"" + importAt(1) + "\",nobody,\n" + // line 4
		"  ,\"" + importAt(1) + "\",ada,ftp://example.test/a.png\n" + // line 5
		"Past,2020-01-01 09:00,ada,\n" + // line 6
		"Foreign,\"" + importAt(1) + "\"," + other.account + ",\n" // line 7
	want := map[string]string{
		"line 3: time":       "2026-12-01 09:30",
		"line 4: accounts":   `no account "nobody"`,
		"line 5: text":       "must not be empty",
		"line 5: media_urls": "http or https",
		"line 6: time":       "in the past",
		"line 7: accounts":   "no account",
	}
	check := func(t *testing.T, problems map[string]any) {
		t.Helper()
		for k, says := range want {
			got, _ := problems[k].(string)
			if !strings.Contains(got, says) {
				t.Errorf("%s: %q, want it to say %q (all: %v)", k, got, says, problems)
			}
		}
		if _, ok := problems["line 2: text"]; ok || len(problems) != len(want) {
			t.Errorf("problems %v, want exactly %d (none on line 2)", problems, len(want))
		}
	}

	res := a.importCSV(t, "?dry_run=true", file)
	body := a.owner.must(http.StatusOK, res).json(t)
	if body["dry_run"] != true || len(body["rows"].([]any)) != 6 {
		t.Fatalf("dry run answered %s", res.Body)
	}
	check(t, body["problems"].(map[string]any))

	res = a.importCSV(t, "", file)
	if res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("import of a file with problems: status %d: %s", res.Status, res.Body)
	}
	check(t, res.errorFields(t))
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("%d posts written", n)
	}
	if n := b.trigger.count(); n != 0 {
		t.Fatalf("%d schedules made", n)
	}
}

func TestImportCreatesEveryRow(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(d *Deps) { d.Outbound = outbound.NewClient(outbound.Policy{AllowLoopback: true}) })
	a := b.firstAgency(t)
	png := pngBytes(t)
	var fetched atomic.Int32
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		if r.URL.Path != "/cover.png" {
			http.NotFound(w, r)
			return
		}
		w.Write(png)
	}))
	t.Cleanup(images.Close)
	file := "text,time,accounts,media_urls,first_comment\n" +
		"\"Launch, at last\",\"" + importAt(2) + "\",@ada,\"" + images.URL + "/cover.png\",More soon\n" +
		"A draft,,ADA,,\n" +
		"\n" + // a blank line a spreadsheet left
		"By id,\"" + importAt(3) + "\"," + a.account + ",,\n"
	dry := a.owner.must(http.StatusOK, a.importCSV(t, "?dry_run=true", file)).json(t)
	if p := dry["problems"].(map[string]any); len(p) != 0 {
		t.Fatalf("a sound file has problems: %v", p)
	}
	if b.count(t, "portal_media") != 0 || b.count(t, "portal_posts") != 0 {
		t.Fatal("the dry run stored something")
	}
	res := a.owner.must(http.StatusCreated, a.importCSV(t, "", file)).json(t)
	rows := res["rows"].([]any)
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	var lines []int
	for _, r := range rows {
		row := r.(map[string]any)
		lines = append(lines, int(row["line"].(float64)))
		if row["post_id"] == nil {
			t.Errorf("line %v: no post created: %v", row["line"], res)
		}
	}
	if !slices.Equal(lines, []int{2, 3, 5}) {
		t.Errorf("lines %v, want 2, 3 and 5 (the file's own lines)", lines)
	}
	if n := b.count(t, "portal_posts"); n != 3 {
		t.Errorf("%d posts, want 3", n)
	}
	if n := b.trigger.count(); n != 2 {
		t.Errorf("%d schedules, want 2 (the draft has none)", n)
	}
	if n := b.count(t, "portal_media"); n != 1 {
		t.Errorf("%d media stored, want 1", n)
	}
	first := rows[0].(map[string]any)
	post := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/posts/"+first["post_id"].(string), nil)).json(t)
	if post["text"] != "Launch, at last" || post["first_comment"] != "More soon" || len(post["media_ids"].([]any)) != 1 {
		t.Errorf("the first row's post is %v", post)
	}
	if fetched.Load() != 3 {
		t.Errorf("the image was fetched %d times, want 3 (by the dry run; by the import, checked and then stored)", fetched.Load())
	}
}

func TestImportRefusesBadFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	many := &strings.Builder{}
	many.WriteString("text,accounts\n")
	for i := range maxImportRows + 1 {
		fmt.Fprintf(many, "post %d,ada\n", i)
	}
	for _, tc := range []struct {
		name, file, says string
	}{
		{"empty", "", "is empty"},
		{"unknown column", "text,colour\nhi,red\n", `column "colour"`},
		{"no text column", "time,accounts\n2030-01-01 09:00,ada\n", "text column"},
		{"twice a column", "text,Text\na,b\n", "appears twice"},
		{"header only", "text,accounts\n", "no rows"},
		{"broken quoting", "text,accounts\n\"unclosed,ada\n", "line 2"},
		{"not UTF-8", "text\n\xff\xfe\n", "UTF-8"},
		{"too many rows", many.String(), "more than 1000 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := a.importCSV(t, "?dry_run=true", tc.file)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if f, _ := res.errorFields(t)["file"].(string); !strings.Contains(f, tc.says) {
				t.Fatalf("file: %q, want it to say %q", f, tc.says)
			}
		})
	}
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("%d posts written", n)
	}
	t.Run("another agency's workspace", func(t *testing.T) {
		res := other.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/imports?dry_run=true", "text\nhi\n", header("Content-Type", "text/csv"))
		if res.Status != http.StatusNotFound {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	})
	t.Run("media by URL without an outbound client", func(t *testing.T) {
		res := a.owner.must(http.StatusOK, a.importCSV(t, "?dry_run=true", "text,accounts,media_urls\nhi,ada,https://example.test/a.png\n")).json(t)
		if p, _ := res["problems"].(map[string]any)["line 2: media_urls"].(string); !strings.Contains(p, "upload the files instead") {
			t.Fatalf("problems %v", res["problems"])
		}
	})
}

func TestImportMediaURLsAreFetchedSafely(t *testing.T) {
	t.Parallel()
	// The production policy: no loopback, no private addresses.
	b := setupWith(t, func(d *Deps) { d.Outbound = outbound.NewClient(outbound.Policy{}) })
	a := b.firstAgency(t)
	var canary atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { canary.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{
		srv.URL + "/a.png",
		fmt.Sprintf("http://2130706433:%d/a.png", port),
		fmt.Sprintf("http://0x7f000001:%d/a.png", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/a.png", port),
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/a.png",
	} {
		res := a.owner.must(http.StatusOK, a.importCSV(t, "?dry_run=true", "text,accounts,media_urls\nhi,ada,"+u+"\n")).json(t)
		if p, _ := res["problems"].(map[string]any)["line 2: media_urls"].(string); p == "" {
			t.Errorf("%s: not refused (%v)", u, res["problems"])
		}
	}
	if n := canary.Load(); n != 0 {
		t.Errorf("the loopback canary received %d requests", n)
	}
}

// The proof: a file of 1,000 rows, 10 of them bad, spread through
// it: the dry run names exactly those 10 lines, and nothing is made.
func TestImportDryRunNamesExactlyTheBadRowsOfAThousand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	var file strings.Builder
	file.WriteString("text,time,accounts\n")
	bad := map[int]string{} // line -> what the problem must say
	for i := range 1000 {
		line := i + 2
		text, when, acct := fmt.Sprintf("Post %d", i), importAt(1+i%20), "ada"
		if i%100 == 7 {
			switch (i / 100) % 3 {
			case 0:
				when, bad[line] = "next tuesday", "time"
			case 1:
				acct, bad[line] = "nobody", "accounts"
			default:
				text, bad[line] = " ", "text"
			}
		}
		fmt.Fprintf(&file, "%q,%q,%s\n", text, when, acct)
	}
	if len(bad) != 10 {
		t.Fatalf("the file has %d bad rows, want 10", len(bad))
	}
	res := a.owner.must(http.StatusOK, a.importCSV(t, "?dry_run=true", file.String())).json(t)
	if rows := res["rows"].([]any); len(rows) != 1000 {
		t.Fatalf("the dry run read %d rows, want 1000", len(rows))
	}
	named := map[int]string{}
	for k := range res["problems"].(map[string]any) {
		var line int
		var field string
		if _, err := fmt.Sscanf(k, "line %d: %s", &line, &field); err != nil {
			t.Fatalf("problem key %q is not \"line N: column\"", k)
		}
		named[line] = field
	}
	if len(named) != len(bad) {
		t.Errorf("the dry run names %d lines, want exactly the %d bad ones: %v", len(named), len(bad), named)
	}
	for line, field := range bad {
		if named[line] != field {
			t.Errorf("line %d: named %q, want %q", line, named[line], field)
		}
	}
	if n := b.count(t, "portal_posts"); n != 0 {
		t.Fatalf("a dry run made %d posts", n)
	}
}
