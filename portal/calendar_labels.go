package portal

import (
	"context"
	"strings"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/store"
)

// Labels are free words a post is filed under ("launch", "promo"), for
// the calendar's filter. They are compared without case: stored
// lower-cased and trimmed, each at most once per post.

const (
	maxPostLabels = 10
	maxLabelBytes = 40
)

func normalizeLabel(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// checkLabels normalizes a post's labels, dropping empty and repeated
// ones, and reports those that are too long or too many.
func checkLabels(v *errs.Fields, labels []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, l := range labels {
		l = normalizeLabel(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		switch {
		case len(l) > maxLabelBytes:
			v.Add("labels", "%q is longer than %d characters", l, maxLabelBytes)
		case strings.ContainsAny(l, ",\n\r\t"):
			v.Add("labels", "%q may not hold commas or line breaks", l)
		}
		out = append(out, l)
	}
	if len(out) > maxPostLabels {
		v.Add("labels", "at most %d labels", maxPostLabels)
	}
	return out
}

// splitLabels reads the composer's comma-separated labels field.
func splitLabels(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// setLabels replaces a post's labels.
func setLabels(ctx context.Context, tx *store.Tx, agencyID, postID string, labels []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM portal_post_labels WHERE agency_id = ? AND post_id = ?`, agencyID, postID); err != nil {
		return err
	}
	for _, l := range labels {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_post_labels (post_id, agency_id, label) VALUES (?, ?, ?)`, postID, agencyID, l); err != nil {
			return err
		}
	}
	return nil
}

// fillLabels loads the labels of posts, sorted.
func fillLabels(ctx context.Context, q store.Querier, agencyID string, posts []Post) error {
	if len(posts) == 0 {
		return nil
	}
	idx, args, in := postsIn(agencyID, posts)
	for i := range posts {
		posts[i].Labels = []string{}
	}
	rows, err := q.Query(ctx, `SELECT post_id, label FROM portal_post_labels WHERE agency_id = ? AND post_id IN `+
		in+` ORDER BY post_id, label`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid, l string
		if err := rows.Scan(&pid, &l); err != nil {
			return err
		}
		p := &posts[idx[pid]]
		p.Labels = append(p.Labels, l)
	}
	return rows.Err()
}

// workspaceLabels are the labels used in the workspaces, for the filter's
// choices.
func (s *Service) workspaceLabels(ctx context.Context, agencyID string, workspaceIDs []string) ([]string, error) {
	if len(workspaceIDs) == 0 {
		return nil, nil
	}
	args := []any{agencyID}
	marks := make([]string, len(workspaceIDs))
	for i, id := range workspaceIDs {
		args = append(args, id)
		marks[i] = "?"
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT l.label FROM portal_post_labels l JOIN portal_posts p ON p.id = l.post_id
		WHERE l.agency_id = ? AND p.workspace_id IN (`+strings.Join(marks, ", ")+`) ORDER BY l.label LIMIT 200`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
