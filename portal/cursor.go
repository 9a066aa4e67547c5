package portal

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// Paging of the API's lists (docs/decisions/0037). Every list that can
// grow is read a page at a time, in a stable order by a key that never
// changes — (created_at, id), or a list's own immutable key — and the
// next page starts after the last item of the one before. A row inserted
// between two pages therefore lands before the cursor (newest-first lists)
// or after it (oldest-first lists): older items are never shown twice or
// skipped.
//
// A cursor is opaque to the caller and signed: it carries the place and a
// MAC of the place and the list it belongs to (its scope: agency, list,
// parent and filter). A cursor edited, made up, or taken from another
// list or another agency is refused as a field error, never used.

const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// PageRequest asks for one page of a list: Cursor is the next cursor of
// the page before ("" for the first page), Limit how many items (1 to 200;
// 0 means 50).
type PageRequest struct {
	Cursor string
	Limit  int
}

// pagePlace is a place in a list ordered by (At, ID): the last item of a
// page. Lists ordered by an id alone leave At zero.
type pagePlace struct {
	At int64
	ID string
}

func (a pagePlace) compare(b pagePlace) int {
	if a.At != b.At {
		if a.At < b.At {
			return -1
		}
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

// page is a checked request for a page of one list.
type page struct {
	scope string
	limit int
	after *pagePlace // nil on the first page
}

// openPage checks req for a page of the list scope names; a bad limit or
// cursor is a field error ("limit", "cursor") and nothing is read.
func (s *Service) openPage(scope string, req PageRequest) (page, error) {
	var v errs.Fields
	pg := s.checkPage(&v, scope, req)
	return pg, v.Err()
}

// checkPage is openPage for a list with more to check: it adds its field
// errors to v, so that one answer names them all.
func (s *Service) checkPage(v *errs.Fields, scope string, req PageRequest) page {
	pg := page{scope: scope, limit: req.Limit}
	switch {
	case req.Limit == 0:
		pg.limit = defaultPageSize
	case req.Limit < 1 || req.Limit > maxPageSize:
		v.Add("limit", "must be a whole number from 1 to %d", maxPageSize)
	}
	if req.Cursor != "" {
		place, ok := s.readCursor(scope, req.Cursor)
		if !ok {
			v.Add("cursor", "is not a cursor this API gave for this list")
		} else {
			pg.after = &place
		}
	}
	return pg
}

// cursorKey derives the cursors' MAC key from the CSRF subkey: HKDF with
// its own label gives a key used for nothing else, without a new secret.
func (k *keys) cursorKey() []byte {
	key, err := hkdf.Key(sha256.New, k.csrf, nil, "herald portal: list cursors", 32)
	if err != nil {
		panic("portal: deriving the cursor key: " + err.Error()) // only for an impossible length
	}
	return key
}

func (s *Service) cursorMAC(scope, place string) []byte {
	m := hmac.New(sha256.New, s.keys.cursorKey())
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(place))
	return m.Sum(nil)[:16]
}

// makeCursor is the cursor of the page after place in the list scope.
func (s *Service) makeCursor(scope string, place pagePlace) string {
	raw := strconv.FormatInt(place.At, 10) + "|" + place.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw)) + "." +
		base64.RawURLEncoding.EncodeToString(s.cursorMAC(scope, raw))
}

func (s *Service) readCursor(scope, c string) (pagePlace, bool) {
	body, sig, ok := strings.Cut(c, ".")
	if !ok {
		return pagePlace{}, false
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.cursorMAC(scope, string(raw))) {
		return pagePlace{}, false
	}
	atText, id, ok := strings.Cut(string(raw), "|")
	at, err := strconv.ParseInt(atText, 10, 64)
	if !ok || err != nil || id == "" {
		return pagePlace{}, false
	}
	return pagePlace{At: at, ID: id}, true
}

// where is the SQL condition that starts the page after its cursor, for a
// list ordered by (atCol, idCol), newest first or oldest first; "" on the
// first page. Read limit+1 rows and pass them to pageNext.
func (pg page) where(atCol, idCol string, newestFirst bool) (string, []any) {
	if pg.after == nil {
		return "", nil
	}
	op := ">"
	if newestFirst {
		op = "<"
	}
	return ` AND (` + atCol + ` ` + op + ` ? OR (` + atCol + ` = ? AND ` + idCol + ` ` + op + ` ?))`,
		[]any{pg.after.At, pg.after.At, pg.after.ID}
}

// pageNext cuts items read with limit+1 to the page and returns the next
// cursor, "" when this is the last page.
func pageNext[T any](s *Service, pg page, items []T, place func(T) pagePlace) ([]T, string) {
	if len(items) <= pg.limit {
		return items, ""
	}
	items = items[:pg.limit]
	return items, s.makeCursor(pg.scope, place(items[pg.limit-1]))
}

// pageSlice pages a list read whole (lists bounded by what an agency
// configures: accounts, queues, tokens...): it orders a copy by place and
// keeps the page after the cursor, with the same guarantees as a query.
func pageSlice[T any](s *Service, pg page, items []T, place func(T) pagePlace, newestFirst bool) ([]T, string) {
	sorted := slices.Clone(items)
	cmp := func(a, b T) int { return place(a).compare(place(b)) }
	if newestFirst {
		cmp = func(a, b T) int { return place(b).compare(place(a)) }
	}
	slices.SortStableFunc(sorted, cmp)
	start := 0
	if pg.after != nil {
		start = len(sorted)
		for i, it := range sorted {
			c := place(it).compare(*pg.after)
			if (!newestFirst && c > 0) || (newestFirst && c < 0) {
				start = i
				break
			}
		}
	}
	end := min(start+pg.limit+1, len(sorted))
	return pageNext(s, pg, sorted[start:end], place)
}

// pageParams reads ?cursor= and ?limit= of a list request. A limit that
// is not a number is passed on as out of range, so that openPage reports
// it with the cursor's error, if any, in one answer.
func pageParams(r *http.Request) PageRequest {
	q := r.URL.Query()
	req := PageRequest{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n == 0 {
			n = -1
		}
		req.Limit = n
	}
	return req
}

// writePage answers a list: {name: items, next_cursor} with next_cursor
// left out on the last page.
func writePage(w http.ResponseWriter, name string, items any, next string) error {
	body := map[string]any{name: items}
	if next != "" {
		body["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, body)
}

// newestPage reads one page of a list kept newest first by (created_at,
// id): sql and args select its rows, without order or limit; scan reads a
// row and place gives an item's place, which makes the next cursor.
func newestPage[T any](ctx context.Context, s *Service, pg page, sql string, args []any,
	scan func(interface{ Scan(...any) error }) (T, error), place func(T) pagePlace) ([]T, string, error) {
	cond, condArgs := pg.where("created_at", "id", true)
	rows, err := s.db.Query(ctx, sql+cond+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(append(args, condArgs...), pg.limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := pageNext(s, pg, out, place)
	return out, next, nil
}

// createdPlace is the place of an item by its creation time and id.
func createdPlace(at time.Time, id string) pagePlace {
	return pagePlace{At: store.ToMicros(at), ID: id}
}
