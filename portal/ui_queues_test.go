package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

func TestUIQueues(t *testing.T) {
	t.Parallel()
	b, ts := setupRealTrigger(t)
	a := b.firstAgency(t)
	c := a.browser(t, b)
	token := c.csrf()
	ctx := context.Background()
	path := "/workspaces/" + a.workspace
	res := c.must(http.StatusOK, c.get(path+"/queues"))
	wantText(t, res.Body, "No queues yet.", "New queue")

	// No slots: refused beside the slot table, nothing stored.
	res = c.must(http.StatusUnprocessableEntity, c.post(path+"/queues", url.Values{"csrf_token": {token}, "name": {"Tips"},
		"zone": {"Europe/Paris"}, "account_ids": {a.account}}))
	if m := regexp.MustCompile(`id="queue-slots-error">([^<]*)<`).FindStringSubmatch(res.Body); m == nil || !strings.Contains(html.UnescapeString(m[1]), "at least one weekly slot") {
		t.Fatalf("slot error = %v", m)
	}
	if n := b.count(t, "trigger_queues"); n != 0 {
		t.Fatalf("%d queues stored", n)
	}

	res = c.must(http.StatusSeeOther, c.post(path+"/queues", url.Values{"csrf_token": {token}, "name": {"Tips"}, "zone": {"Europe/Paris"},
		"account_ids": {a.account}, "slots_1": {"09:00, 13:30"}, "slots_4": {"18:00"}, "recycle": {"on"}, "min_gap_days": {"7"}, "max_repeats": {"2"}}))
	qpath := res.location()
	qid := strings.TrimPrefix(qpath, path+"/queues/")
	q, err := ts.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: a.id, QueueId: qid})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.GetQueue().GetSlots()) != 3 || q.GetQueue().GetRecycling().GetMaxRepeats() != 2 || q.GetQueue().GetRecycling().GetMinGap().AsDuration().Hours() != 168 {
		t.Fatalf("trigger holds %v", q.GetQueue())
	}

	// The composer offers the queue; an evergreen post goes in it.
	res = c.must(http.StatusOK, c.get(path))
	if !strings.Contains(res.Body, `value="queue"`) || !strings.Contains(res.Body, `<option value="`+qid+`"`) {
		t.Fatalf("composer does not offer the queue:\n%s", excerpt(res.Body))
	}
	res = c.must(http.StatusSeeOther, c.post(path+"/posts", url.Values{"csrf_token": {token}, "text": {"Evergreen tip"},
		"when": {"queue"}, "queue_id": {qid}, "evergreen": {"on"}}))
	postID := strings.TrimPrefix(res.location(), path+"#post-")
	res = c.must(http.StatusOK, c.get(path))
	wantText(t, res.Body, "Added to the queue: it goes out", "In a queue · evergreen")

	res = c.must(http.StatusOK, c.get(qpath))
	wantText(t, res.Body, "Posts in order", "Evergreen tip", "Next free slots", "Pause queue", "Pause account")
	if !strings.Contains(res.Body, `data-post-id="`+postID+`"`) {
		t.Fatal("the queue page does not list the post")
	}

	// Pause and resume, the queue and the account.
	c.must(http.StatusSeeOther, c.post(qpath+"/pause", url.Values{"csrf_token": {token}, "paused": {"true"}}), qpath)
	res = c.must(http.StatusOK, c.get(qpath))
	wantText(t, res.Body, "paused", "Resume queue")
	c.must(http.StatusSeeOther, c.post(qpath+"/pause", url.Values{"csrf_token": {token}, "paused": {"false"}}), qpath)
	c.must(http.StatusSeeOther, c.post(path+"/accounts/"+a.account+"/pause", url.Values{"csrf_token": {token}, "paused": {"true"}, "back": {qpath}}), qpath)
	res = c.must(http.StatusOK, c.get(qpath))
	wantText(t, res.Body, "Held: an account is paused", "Resume account")

	// Edited: a bad repeat count is refused beside it; a good table saves.
	res = c.must(http.StatusUnprocessableEntity, c.post(qpath, url.Values{"csrf_token": {token}, "name": {"Tips"}, "zone": {"Europe/Paris"},
		"account_ids": {a.account}, "slots_2": {"10:00"}, "recycle": {"on"}, "max_repeats": {"5000"}}))
	if !strings.Contains(res.Body, `id="queue-repeats-error"`) {
		t.Fatalf("no error beside the repeats:\n%s", excerpt(res.Body))
	}
	c.must(http.StatusSeeOther, c.post(qpath, url.Values{"csrf_token": {token}, "name": {"Tips!"}, "zone": {"Europe/Paris"},
		"account_ids": {a.account}, "slots_2": {"10:00"}}), qpath)
	q, _ = ts.GetQueue(ctx, &triggerv1.GetQueueRequest{TenantId: a.id, QueueId: qid})
	if q.GetQueue().GetName() != "Tips!" || len(q.GetQueue().GetSlots()) != 1 || q.GetQueue().GetRecycling() != nil {
		t.Fatalf("after the edit: %v", q.GetQueue())
	}

	// Deleted: the post is kept as a draft.
	c.must(http.StatusSeeOther, c.post(qpath+"/delete", url.Values{"csrf_token": {token}}), path+"/queues")
	res = c.must(http.StatusOK, c.get(path+"/queues"))
	wantText(t, res.Body, "kept as drafts", "No queues yet.")
	if res := c.get(qpath); res.Status != http.StatusNotFound {
		t.Fatalf("deleted queue page: %d", res.Status)
	}
}
