package portal

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/errs"
)

// Bulk import: a CSV file of posts, checked whole before anything is
// created. A dry run reports every row's problems and creates nothing; a
// real run creates nothing either unless every row is sound, and then
// creates each row's post as CreatePost would (under the workspace's
// approval policy, scheduled at Trigger).
//
// The file has a header row naming its columns, in any order and case:
//
//	text           the post's text (required)
//	time           a local wall time in the workspace's zone,
//	               "2026-12-01 09:30" or "2026-12-01T09:30"; empty with no
//	               queue saves a draft
//	accounts       the accounts, separated by ";": ids, handles (with or
//	               without "@") or display names, as the workspace lists them
//	media_urls     images or videos to attach, separated by ";", fetched
//	               over http(s)
//	first_comment  a comment published after the post
//	queue          a queue's name or id: the post takes its next free slot
//
// Problems are keyed "line N: column", N being the line of the file (the
// header is line 1), as a spreadsheet shows it.

const (
	maxImportRows  = 1000
	maxImportBytes = 2 << 20
	// importMediaTimeout bounds fetching one media URL.
	importMediaTimeout = 30 * time.Second
)

// importColumns are the columns a file may have, with accepted aliases.
var importColumns = map[string]string{
	"text": "text", "time": "time", "scheduled_at": "time", "accounts": "accounts", "account_ids": "accounts",
	"media_urls": "media_urls", "media": "media_urls", "first_comment": "first_comment", "queue": "queue", "queue_id": "queue",
}

// ImportRow is one row of an import as understood.
type ImportRow struct {
	Line         int
	Text         string
	Time         string
	Accounts     []string // account ids
	MediaURLs    []string
	FirstComment string
	QueueID      string
	// PostID and Status are set once the row's post was created.
	PostID string
	Status string
}

// ImportResult is what an import found and did. Problems, keyed
// "line N: column", is empty when every row is sound; Failed holds rows
// checked sound whose creation then failed (Trigger unavailable), by line.
type ImportResult struct {
	DryRun   bool
	Rows     []ImportRow
	Problems errs.Fields
	Failed   map[int]string
}

// doImportPosts checks (and, unless dryRun, creates) the posts of a CSV file.
// A file with problems returns them in the result with a nil error when
// dryRun, or as an Invalid error carrying them, and nothing created, when
// not.
func (s *Service) doImportPosts(ctx context.Context, p *Principal, workspaceID string, file io.Reader, dryRun bool) (ImportResult, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{DryRun: dryRun, Problems: errs.Fields{}, Failed: map[int]string{}}
	raw, err := readImportFile(file)
	if err != nil {
		return ImportResult{}, err
	}
	res.Rows, err = s.parseImport(ctx, p, ws, raw, res.Problems)
	if err != nil {
		return ImportResult{}, err
	}
	checked := make([]checkedPost, len(res.Rows))
	for i, row := range res.Rows {
		unstored := s.checkImportMedia(ctx, row, res.Problems)
		c, err := s.checkNewPost(ctx, p, ws, row.input(), unstored)
		var e *errs.Error
		switch {
		case errors.As(err, &e) && len(e.Fields) > 0:
			for field, msg := range e.Fields {
				// What the file said wrong in a column comes first: "no
				// account x" explains "choose at least one account".
				key := fmt.Sprintf("line %d: %s", row.Line, importField(field))
				if _, said := res.Problems[key]; !said {
					res.Problems[key] = msg
				}
			}
		case err != nil:
			return ImportResult{}, err
		}
		checked[i] = c
	}
	if len(res.Problems) > 0 {
		if dryRun {
			return res, nil
		}
		return res, &errs.Error{Kind: errs.Invalid, Message: fmt.Sprintf("the file has %d problems; nothing was imported", len(res.Problems)),
			Fields: res.Problems}
	}
	if dryRun {
		return res, nil
	}
	for i := range res.Rows {
		row := &res.Rows[i]
		c := checked[i]
		ids, err := s.storeImportMedia(ctx, p, ws.ID, row.MediaURLs)
		if err == nil {
			c.in.MediaIDs = append(c.in.MediaIDs, ids...)
			c.media, err = s.mediaByIDs(ctx, p.AgencyID, ws.ID, c.in.MediaIDs)
		}
		var post Post
		if err == nil {
			post, err = s.createChecked(ctx, p, ws, c)
		}
		if err != nil {
			s.log.Warn("import: a checked row was not created", "workspace_id", ws.ID, "line", row.Line, "err", err)
			res.Failed[row.Line] = errs.PublicMessage(err)
			continue
		}
		row.PostID, row.Status = post.ID, string(post.Status)
	}
	return res, nil
}

func (row ImportRow) input() PostInput {
	in := PostInput{Text: row.Text, FirstComment: row.FirstComment, AccountIDs: row.Accounts, QueueID: row.QueueID}
	switch {
	case row.Time != "":
		in.ScheduledAt = row.Time
	case row.QueueID == "":
		in.Draft = true
	}
	return in
}

// importField names a CreatePost field by the import's column.
func importField(field string) string {
	switch {
	case field == "scheduled_at" || field == "when":
		return "time"
	case strings.HasPrefix(field, "account_ids"):
		return "accounts"
	case strings.HasPrefix(field, "media_ids"):
		return "media_urls"
	case field == "queue_id":
		return "queue"
	}
	return field
}

func readImportFile(file io.Reader) ([]byte, error) {
	if file == nil {
		return nil, errs.Fields{"file": "is required"}.Err()
	}
	raw, err := io.ReadAll(io.LimitReader(file, maxImportBytes+1))
	if err != nil {
		return nil, uploadError(err, maxImportBytes)
	}
	switch {
	case len(raw) > maxImportBytes:
		return nil, &errs.Error{Kind: errs.TooLarge, Message: "the file is too large",
			Fields: map[string]string{"file": fmt.Sprintf("is larger than %d bytes; split it", maxImportBytes)}}
	case len(strings.TrimSpace(string(raw))) == 0:
		return nil, errs.Fields{"file": "is empty"}.Err()
	case !utf8.Valid(raw):
		return nil, errs.Fields{"file": "is not UTF-8 text; save the sheet as CSV UTF-8"}.Err()
	}
	return raw, nil
}

// parseImport reads the rows and resolves account and queue names. Problems
// of the file as a whole are returned as an error; those of a row go to
// problems.
func (s *Service) parseImport(ctx context.Context, p *Principal, ws Workspace, raw []byte, problems errs.Fields) ([]ImportRow, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(raw), "\ufeff")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, errs.Fields{"file": "is not a CSV file: " + csvProblem(err)}.Err()
	}
	cols := map[string]int{}
	var bad errs.Fields
	for i, h := range header {
		name, ok := importColumns[strings.ToLower(strings.TrimSpace(h))]
		switch {
		case !ok:
			bad.Add("file", "column %q is not one of text, time, accounts, media_urls, first_comment, queue", h)
		case cols[name] != 0:
			bad.Add("file", "column %s appears twice", name)
		}
		cols[name] = i + 1 // 0 means absent
	}
	if cols["text"] == 0 {
		bad.Add("file", "the header must name a text column")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	accounts, err := s.importAccounts(ctx, p.AgencyID, ws.ID)
	if err != nil {
		return nil, err
	}
	var queues []Queue
	var rows []ImportRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, errs.Fields{"file": fmt.Sprintf("line %d: %s", line, csvProblem(err))}.Err()
		}
		line, _ := r.FieldPos(0)
		cell := func(name string) string {
			if i := cols[name]; i > 0 && i <= len(rec) {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // a blank line a spreadsheet left
		}
		if len(rows) == maxImportRows {
			return nil, errs.Fields{"file": fmt.Sprintf("has more than %d rows; split it", maxImportRows)}.Err()
		}
		at := func(col string) string { return fmt.Sprintf("line %d: %s", line, col) }
		row := ImportRow{Line: line, Text: cell("text"), FirstComment: cell("first_comment")}
		if t := cell("time"); t != "" {
			if row.Time = importTime(t); row.Time == "" {
				problems[at("time")] = `must be a local date and time such as "2026-12-01 09:30"`
			}
		}
		for _, name := range splitList(cell("accounts")) {
			id, why := accounts.resolve(name)
			if why != "" {
				problems[at("accounts")] = why
				continue
			}
			row.Accounts = append(row.Accounts, id)
		}
		for _, u := range splitList(cell("media_urls")) {
			if why := checkMediaURL(u); why != "" {
				problems[at("media_urls")] = why
				continue
			}
			row.MediaURLs = append(row.MediaURLs, u)
		}
		if q := cell("queue"); q != "" {
			if queues == nil {
				if queues, err = s.ListQueues(ctx, p, ws.ID); err != nil {
					return nil, err
				}
			}
			if row.QueueID = findQueue(queues, q); row.QueueID == "" {
				problems[at("queue")] = fmt.Sprintf("no queue %q in this workspace", q)
			}
			if row.Time != "" {
				problems[at("queue")] = "give a time or a queue, not both"
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errs.Fields{"file": "has a header but no rows"}.Err()
	}
	return rows, nil
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// importTime turns the wall times spreadsheets write into the composer's
// form ("2026-12-01T09:30"), or "" when it is not one.
func importTime(s string) string {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Second() != 0 {
				return ""
			}
			return t.Format("2006-01-02T15:04")
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func checkMediaURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Sprintf("%q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an http or https URL", raw)
	}
	return ""
}

func findQueue(queues []Queue, nameOrID string) string {
	for _, q := range queues {
		if q.ID == nameOrID {
			return q.ID
		}
	}
	found := ""
	for _, q := range queues {
		if strings.EqualFold(q.Name, nameOrID) {
			if found != "" {
				return "" // two queues of that name: the id must be used
			}
			found = q.ID
		}
	}
	return found
}

// importAccountSet finds a workspace's accounts by id, handle or name.
type importAccountSet []Account

func (s *Service) importAccounts(ctx context.Context, agencyID, workspaceID string) (importAccountSet, error) {
	rows, err := s.db.Query(ctx, `SELECT `+accountColumns+` FROM portal_accounts WHERE agency_id = ? AND workspace_id = ?`, agencyID, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out importAccountSet
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (set importAccountSet) resolve(name string) (string, string) {
	for _, a := range set {
		if a.ID == name {
			return a.ID, ""
		}
	}
	bare := strings.TrimPrefix(name, "@")
	var matches []string
	for _, a := range set {
		if strings.EqualFold(strings.TrimPrefix(a.Handle, "@"), bare) || strings.EqualFold(a.DisplayName, name) {
			matches = append(matches, a.ID)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Sprintf("no account %q in this workspace", name)
	case 1:
		return matches[0], ""
	}
	return "", fmt.Sprintf("%q names %d accounts; use the account's id", name, len(matches))
}

// checkImportMedia fetches a row's media URLs to check them as uploads are
// checked (type from the bytes, size), keeping nothing.
func (s *Service) checkImportMedia(ctx context.Context, row ImportRow, problems errs.Fields) []Media {
	var out []Media
	for _, u := range row.MediaURLs {
		m, err := s.fetchImportMedia(ctx, u, io.Discard)
		if err != nil {
			problems[fmt.Sprintf("line %d: media_urls", row.Line)] = errs.PublicMessage(err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// fetchImportMedia fetches one media URL through the outbound client,
// writing its bytes to w, and says what it holds.
func (s *Service) fetchImportMedia(ctx context.Context, rawURL string, w io.Writer) (Media, error) {
	if s.outbound == nil {
		return Media{}, errs.E(errs.Unavailable, "media by URL cannot be fetched by this installation; upload the files instead")
	}
	ctx, cancel := context.WithTimeout(ctx, importMediaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Media{}, errs.E(errs.Invalid, "%q is not a URL", rawURL)
	}
	resp, err := s.outbound.Do(req)
	if err != nil {
		if e, ok := errs.As(err); ok && e.Message != "" {
			return Media{}, errs.E(errs.Invalid, "%s: %s", rawURL, e.Message)
		}
		return Media{}, errs.E(errs.Invalid, "%s could not be fetched", rawURL)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Media{}, errs.E(errs.Invalid, "%s answered HTTP %s", rawURL, resp.Status)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(resp.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Media{}, errs.E(errs.Invalid, "%s could not be read", rawURL)
	}
	head = head[:n]
	mt := sniffType(head)
	if n == 0 || !mediaTypes[mt] {
		return Media{}, errs.E(errs.Invalid, "%s is %s, not a JPEG, PNG, GIF or WebP image or an MP4 or QuickTime video", rawURL, mt)
	}
	if _, err := w.Write(head); err != nil {
		return Media{}, err
	}
	limit := s.cfg.MaxUploadBytes
	rest, err := io.Copy(w, io.LimitReader(resp.Body, limit-int64(n)+1))
	if err != nil {
		return Media{}, errs.E(errs.Invalid, "%s could not be read", rawURL)
	}
	size := int64(n) + rest
	if size > limit {
		return Media{}, errs.E(errs.Invalid, "%s is larger than %d bytes", rawURL, limit)
	}
	return Media{MimeType: mt, SizeBytes: size, FileName: cleanFileName(path.Base(req.URL.Path))}, nil
}

// storeImportMedia fetches a row's media into the library.
func (s *Service) storeImportMedia(ctx context.Context, p *Principal, workspaceID string, urls []string) ([]string, error) {
	if _, err := s.authorize(ctx, s.db, p, workspaceID, actMedia); err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range urls {
		m, err := s.fetchIntoLibrary(ctx, p.AgencyID, p.UserID, workspaceID, u)
		if err != nil {
			return nil, err
		}
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// fetchIntoLibrary fetches one media URL through the outbound client into
// a workspace's library, streaming it from the network to the blob store.
func (s *Service) fetchIntoLibrary(ctx context.Context, agencyID, userID, workspaceID, u string) (Media, error) {
	pr, pw := io.Pipe()
	fetched := make(chan error, 1)
	go func() {
		_, err := s.fetchImportMedia(ctx, u, pw)
		pw.CloseWithError(err)
		fetched <- err
	}()
	name := "image"
	if pu, err := url.Parse(u); err == nil && path.Base(pu.Path) != "/" && path.Base(pu.Path) != "." {
		name = path.Base(pu.Path)
	}
	m, err := s.storeMedia(ctx, agencyID, userID, workspaceID, MediaInput{FileName: name, Content: pr})
	pr.CloseWithError(errors.New("upload ended"))
	if ferr := <-fetched; ferr != nil && err == nil {
		err = ferr
	}
	return m, err
}

// mediaByIDs reads media of a workspace in the order of ids.
func (s *Service) mediaByIDs(ctx context.Context, agencyID, workspaceID string, ids []string) ([]Media, error) {
	var v errs.Fields
	media := s.checkMedia(ctx, &v, agencyID, workspaceID, ids)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return media, nil
}
