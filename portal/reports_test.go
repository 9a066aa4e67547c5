package portal

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldhq/herald/bus"
	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

func TestReportCountsEachPublicationOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	other := b.otherAgency(t, "beta")
	outcome := func(ag *agency, evID, postID string, ok bool, due time.Time) {
		t.Helper()
		if ok {
			b.publish(t, evID, bus.TopicPostPublished, mustMarshal(t, &eventsv1.PostPublished{TenantId: ag.id, WorkspaceId: ag.workspace, PostId: postID,
				Revision: 1, AccountId: ag.account, Network: "mastodon", RemoteId: evID, DueAt: timestamppb.New(due)}))
			return
		}
		b.publish(t, evID, bus.TopicPostFailed, mustMarshal(t, &eventsv1.PostFailed{TenantId: ag.id, WorkspaceId: ag.workspace, PostId: postID,
			Revision: 1, AccountId: ag.account, Network: "mastodon", Reason: "refused", Kind: "bad_content", DueAt: timestamppb.New(due)}))
	}
	// Three one-shot posts: two published, one failed; the same event
	// twice counts once.
	for i, ok := range []bool{true, true, false} {
		id := a.createPost(t, "one-shot "+string(rune('a'+i)))["id"].(string)
		outcome(a, "evt-once-"+id, id, ok, time.Time{})
		outcome(a, "evt-once-"+id, id, ok, time.Time{})
	}
	// A recurring post published at two firings: two publications.
	rec := a.owner.must(http.StatusCreated, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/posts", map[string]any{
		"text": "Daily", "account_ids": []string{a.account},
		"repeat": map[string]any{"rrule": "FREQ=DAILY;COUNT=5", "start_local": tomorrowAt("09:30")}})).json(t)
	recID := rec["id"].(string)
	first, _ := time.Parse(time.RFC3339, rec["scheduled_at_utc"].(string))
	for i := range 2 {
		due := first.Add(time.Duration(i) * 24 * time.Hour)
		next := due.Add(24 * time.Hour)
		b.publish(t, "due-"+string(rune('0'+i)), bus.TopicPostDue, mustMarshal(t, &eventsv1.PostDue{TenantId: a.id, PostId: recID, Revision: 1,
			ScheduleId: recID, DueAt: timestamppb.New(due), FiredAt: timestamppb.New(due), NextDueAt: timestamppb.New(next)}))
		outcome(a, "evt-rec-"+string(rune('0'+i)), recID, true, due)
	}
	// Another agency's publication is not ours.
	oid := other.createPost(t, "theirs")["id"].(string)
	outcome(other, "evt-other", oid, true, time.Time{})

	rep := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/reports", nil)).json(t)
	total := rep["total"].(map[string]any)
	if total["published"] != float64(4) || total["failed"] != float64(1) || total["skipped"] != float64(0) {
		t.Fatalf("total %v, want 4 published (2 one-shot, 2 firings) and 1 failed", total)
	}
	accts := rep["accounts"].([]any)
	if len(accts) != 1 || accts[0].(map[string]any)["handle"] != "ada" || accts[0].(map[string]any)["published"] != float64(4) {
		t.Fatalf("accounts %v", accts)
	}
	if nets := rep["networks"].([]any); len(nets) != 1 || nets[0].(map[string]any)["network"] != "mastodon" {
		t.Fatalf("networks %v", nets)
	}

	// A period before any of it: nothing.
	old := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/reports?from=2025-01-01&to=2025-01-31", nil)).json(t)
	if old["total"].(map[string]any)["published"] != float64(0) || len(old["accounts"].([]any)) != 0 {
		t.Fatalf("an old period counts %v", old)
	}

	// The CSV export says the same.
	res := a.owner.must(http.StatusOK, a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/reports?format=csv", nil))
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("Content-Type %q", ct)
	}
	records, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil || len(records) != 3 || records[1][4] != "ada" || records[1][6] != "4" || records[2][5] != "total" || records[2][7] != "1" {
		t.Fatalf("CSV %q (%v)", records, err)
	}

	// Bad periods, another agency.
	for q, field := range map[string]string{"?from=yesterday": "from", "?from=2026-02-01&to=2026-01-01": "to", "?from=2020-01-01&to=2026-01-01": "from", "?format=pdf": "format"} {
		r := a.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/reports"+q, nil)
		if r.Status/100 != 4 || r.errorFields(t)[field] == nil {
			t.Errorf("%s: status %d %s, want a problem with %s", q, r.Status, r.Body, field)
		}
	}
	other.owner.must(http.StatusNotFound, other.owner.do("GET", "/api/v1/workspaces/"+a.workspace+"/reports", nil))

	// The page shows it.
	c := a.browser(t, b)
	page := c.must(http.StatusOK, c.get("/workspaces/"+a.workspace+"/reports"))
	wantText(t, page.Body, "By account", "mastodon ada 4 1 0", "Download CSV")
}

func TestReportCSVDefusesFormulas(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"=HYPERLINK(1)": "'=HYPERLINK(1)", "@ada": "'@ada", "ada": "ada", "": ""} {
		if got := safeCell(in); got != want {
			t.Errorf("safeCell(%q) = %q, want %q", in, got, want)
		}
	}
}
