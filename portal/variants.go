package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

// Variants: one post, edited per network.
//
// A post may carry, for a network of its accounts, a variant that replaces
// parts of its content on that network only: its text, its media (each
// with its own alt text), its thread or its first comment. What a variant
// leaves out is the post's own. Each variant is checked at save with the
// network's own validation, through Publisher, and GetPublishJob hands
// Publisher the merged content of every network that differs.

// Variant is a post's content for one network where it differs from the
// post's own.
type Variant struct {
	// Text replaces the post's text; "" keeps it.
	Text string
	// Media replace the post's media when HasMedia (none: no media there).
	HasMedia bool
	Media    []VariantMedia
	// Thread replaces the post's thread when HasThread (empty: no thread).
	HasThread bool
	Thread    []string
	// FirstComment replaces the post's when HasFirstComment ("": none).
	HasFirstComment bool
	FirstComment    string
}

// VariantMedia is one of a variant's media files with the alt text it is
// published with ("" for the file's own description).
type VariantMedia struct {
	MediaID string
	AltText string
}

// UTM tags a post's links with UTM parameters at publish time. An empty
// Source is the network's name, so each network's clicks are told apart.
type UTM struct {
	Enabled  bool
	Source   string
	Medium   string
	Campaign string
}

// maxVariantAlt bounds a variant's alt text before the network's own
// (shorter) limit is checked.
const maxVariantAlt = 10_000

// overridesContent: the variant replaces the post's text or media, so the
// network is checked on the variant's, not on the post's own.
func (v Variant) overridesContent() bool { return v.Text != "" || v.HasMedia }

// overridesParts: the variant replaces the thread or the first comment.
func (v Variant) overridesParts() bool { return v.HasThread || v.HasFirstComment }

// resolved is a post's content as one network publishes it.
type resolved struct {
	text         string
	thread       []string
	firstComment string
}

func (v Variant) resolve(p Post) resolved {
	r := resolved{text: p.Text, thread: p.Thread, firstComment: p.FirstComment}
	if v.Text != "" {
		r.text = v.Text
	}
	if v.HasThread {
		r.thread = v.Thread
	}
	if v.HasFirstComment {
		r.firstComment = v.FirstComment
	}
	return r
}

// networkNames lists the distinct networks of accounts, sorted.
func networkNames(accounts []targetAccount) []string {
	var out []string
	for _, a := range accounts {
		if !slices.Contains(out, a.network) {
			out = append(out, a.network)
		}
	}
	sort.Strings(out)
	return out
}

// checkUTM checks UTM parameters: plain values, as they end up in links.
func checkUTM(v *errs.Fields, u UTM) {
	for _, f := range []struct{ name, val string }{{"utm.source", u.Source}, {"utm.medium", u.Medium}, {"utm.campaign", u.Campaign}} {
		if len(f.val) > 200 {
			v.Add(f.name, "is too long (at most 200 characters)")
		}
	}
}

// checkVariants checks variants field by field ("variants.x.text") and,
// once sound, against their networks through Publisher. post is the post's
// own content, to which a variant falls back; accounts its targets. It
// returns the networks whose text and media, and whose thread and first
// comment, the variants replace: the post's own are not checked there.
func (s *Service) checkVariants(ctx context.Context, v *errs.Fields, agencyID, workspaceID string, post Post, media []Media,
	variants map[string]Variant, accounts []targetAccount) (contentDone, partsDone map[string]bool, err error) {
	contentDone, partsDone = map[string]bool{}, map[string]bool{}
	if len(variants) == 0 {
		return contentDone, partsDone, nil
	}
	nets := networkNames(accounts)
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	mediaOf := map[string][]Media{}
	for _, n := range names {
		vr, pre := variants[n], "variants."+n
		if !slices.Contains(nets, n) {
			v.Add(pre, "none of the post's accounts is on %s", n)
			continue
		}
		if len(vr.Text) > maxTextBytes {
			v.Add(pre+".text", "is too long")
		}
		var sub errs.Fields
		checkParts(&sub, vr.Thread, vr.FirstComment)
		if vr.HasMedia {
			ids := make([]string, len(vr.Media))
			for i, m := range vr.Media {
				ids[i] = m.MediaID
				if len(m.AltText) > maxVariantAlt {
					v.Add(fmt.Sprintf("%s.media[%d].alt_text", pre, i), "is too long")
				}
			}
			ms := s.checkMedia(ctx, &sub, agencyID, workspaceID, ids)
			for i := range ms {
				if a := vr.Media[i].AltText; a != "" {
					ms[i].Description = a
				}
			}
			mediaOf[n] = ms
		}
		for f, msg := range sub {
			v.Add(variantField(pre, f), "%s", msg)
		}
	}
	// Publisher is asked only about content that is otherwise sound.
	if len(*v) > 0 {
		return contentDone, partsDone, nil
	}
	for _, n := range names {
		vr, pre := variants[n], "variants."+n
		r := vr.resolve(post)
		var sub errs.Fields
		if vr.overridesContent() {
			contentDone[n] = true
			ms := media
			if vr.HasMedia {
				ms = mediaOf[n]
			}
			if err := s.validateOn(ctx, &sub, tagLinks(r.text, post.UTM, n), []string{n}, ms); err != nil {
				return nil, nil, err
			}
		}
		if vr.overridesParts() {
			partsDone[n] = true
			if err := s.validatePartsOn(ctx, &sub, r.thread, r.firstComment, []string{n}); err != nil {
				return nil, nil, err
			}
		}
		for f, msg := range sub {
			v.Add(variantField(pre, f), "%s", msg)
		}
	}
	return contentDone, partsDone, nil
}

// variantField names a variant's field: the post's "media_ids[0]" is the
// variant's "media[0]".
func variantField(prefix, field string) string {
	if rest, ok := strings.CutPrefix(field, "media_ids"); ok {
		field = "media" + rest
	}
	return prefix + "." + field
}

// others are the networks not in done.
func others(nets []string, done map[string]bool) []string {
	var out []string
	for _, n := range nets {
		if !done[n] {
			out = append(out, n)
		}
	}
	return out
}

// writeVariants replaces a post's stored variants.
func writeVariants(ctx context.Context, tx *store.Tx, postID string, variants map[string]Variant) error {
	if _, err := tx.Exec(ctx, `DELETE FROM portal_post_variants WHERE post_id = ?`, postID); err != nil {
		return err
	}
	for n, vr := range variants {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_post_variants (post_id, network, text, has_thread, thread, has_first_comment, first_comment, has_media)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, postID, n, vr.Text, vr.HasThread, encodeThread(vr.Thread), vr.HasFirstComment, vr.FirstComment, vr.HasMedia); err != nil {
			return err
		}
		for i, m := range vr.Media {
			if _, err := tx.Exec(ctx, `INSERT INTO portal_post_variant_media (post_id, network, position, media_id, alt_text) VALUES (?, ?, ?, ?, ?)`,
				postID, n, i, m.MediaID, m.AltText); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadVariants reads the variants of posts by post id (portal_post_variants
// has no agency_id: the post ids are already the agency's).
func loadVariants(ctx context.Context, q store.Querier, postIDs []string) (map[string]map[string]Variant, error) {
	out := map[string]map[string]Variant{}
	if len(postIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(postIDs))
	for i, id := range postIDs {
		args[i] = id
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(postIDs)), ", ") + ")"
	rows, err := q.Query(ctx, `SELECT post_id, network, text, has_thread, thread, has_first_comment, first_comment, has_media
		FROM portal_post_variants WHERE post_id IN `+in, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pid, n, thread string
		var vr Variant
		if err := rows.Scan(&pid, &n, &vr.Text, &vr.HasThread, &thread, &vr.HasFirstComment, &vr.FirstComment, &vr.HasMedia); err != nil {
			rows.Close()
			return nil, err
		}
		vr.Thread = decodeThread(thread)
		if out[pid] == nil {
			out[pid] = map[string]Variant{}
		}
		out[pid][n] = vr
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT post_id, network, media_id, alt_text FROM portal_post_variant_media
		WHERE post_id IN `+in+` ORDER BY post_id, network, position`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid, n string
		var m VariantMedia
		if err := rows.Scan(&pid, &n, &m.MediaID, &m.AltText); err != nil {
			return nil, err
		}
		vr := out[pid][n]
		vr.Media = append(vr.Media, m)
		out[pid][n] = vr
	}
	return out, rows.Err()
}

func encodeUTM(u UTM) string {
	if !u.Enabled {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"source": u.Source, "medium": u.Medium, "campaign": u.Campaign})
	return string(b)
}

func decodeUTM(s string) UTM {
	if s == "" {
		return UTM{}
	}
	var m map[string]string
	_ = json.Unmarshal([]byte(s), &m)
	return UTM{Enabled: true, Source: m["source"], Medium: m["medium"], Campaign: m["campaign"]}
}

// linkRE finds the http(s) links of a text. Trailing punctuation is not
// part of a link ("see https://a.example/x." ends at x).
var linkRE = regexp.MustCompile(`https?://[^\s<>"]+[^\s<>".,;:!?)\]}'’”]`)

// tagLinks adds u's parameters to every link of text, for network. A link
// keeps its own query (a parameter it already has is not replaced) and its
// fragment, which stays last.
func tagLinks(text string, u UTM, network string) string {
	if !u.Enabled {
		return text
	}
	source := u.Source
	if source == "" {
		source = network
	}
	params := []struct{ k, v string }{{"utm_source", source}, {"utm_medium", u.Medium}, {"utm_campaign", u.Campaign}}
	return linkRE.ReplaceAllStringFunc(text, func(link string) string {
		base, frag, hasFrag := strings.Cut(link, "#")
		path, query, _ := strings.Cut(base, "?")
		have, err := url.ParseQuery(query)
		if err != nil {
			return link
		}
		var add []string
		for _, p := range params {
			if p.v != "" && !have.Has(p.k) {
				add = append(add, url.QueryEscape(p.k)+"="+url.QueryEscape(p.v))
			}
		}
		if len(add) == 0 {
			return link
		}
		// The link's own query is kept byte for byte: re-encoding it could
		// change what its server reads.
		q := query
		if q != "" && !strings.HasSuffix(q, "&") {
			q += "&"
		}
		out := path + "?" + q + strings.Join(add, "&")
		if hasFrag {
			out += "#" + frag
		}
		return out
	})
}

// jobVariants are the publish job's per-network contents: for every
// network of the job's targets that has a variant or whose links are
// tagged, the post's content merged with the variant, links tagged.
func jobVariants(job *portalv1.PublishJob, post Post, variants map[string]Variant, mediaRefs map[string]*portalv1.MediaRef) map[string]*portalv1.Content {
	out := map[string]*portalv1.Content{}
	for _, t := range job.GetTargets() {
		n := t.GetNetwork()
		vr, has := variants[n]
		if _, done := out[n]; done || (!has && !post.UTM.Enabled) {
			continue
		}
		r := vr.resolve(post)
		c := &portalv1.Content{Text: tagLinks(r.text, post.UTM, n), Media: job.GetMedia()}
		if vr.HasMedia {
			c.Media = nil
			for _, m := range vr.Media {
				ref, ok := mediaRefs[m.MediaID]
				if !ok {
					continue
				}
				cp := &portalv1.MediaRef{BlobKey: ref.GetBlobKey(), MimeType: ref.GetMimeType(), SizeBytes: ref.GetSizeBytes(),
					Description: ref.GetDescription(), FileName: ref.GetFileName()}
				if m.AltText != "" {
					cp.Description = m.AltText
				}
				c.Media = append(c.Media, cp)
			}
		}
		for _, part := range r.thread {
			c.Thread = append(c.Thread, &portalv1.PostPart{Text: tagLinks(part, post.UTM, n)})
		}
		if r.firstComment != "" {
			c.FirstComment = &portalv1.PostPart{Text: tagLinks(r.firstComment, post.UTM, n)}
		}
		out[n] = c
	}
	return out
}

// variantMediaRefs loads the media the variants of a post refer to, by id.
func (s *Service) variantMediaRefs(ctx context.Context, agencyID string, variants map[string]Variant) (map[string]*portalv1.MediaRef, error) {
	out := map[string]*portalv1.MediaRef{}
	for _, vr := range variants {
		for _, m := range vr.Media {
			if _, ok := out[m.MediaID]; ok {
				continue
			}
			ref := &portalv1.MediaRef{}
			err := s.db.QueryRow(ctx, `SELECT blob_key, mime_type, size_bytes, description, file_name FROM portal_media WHERE agency_id = ? AND id = ?`,
				agencyID, m.MediaID).Scan(&ref.BlobKey, &ref.MimeType, &ref.SizeBytes, &ref.Description, &ref.FileName)
			if err != nil {
				return nil, err
			}
			out[m.MediaID] = ref
		}
	}
	return out, nil
}

// addJobVariants gives job the per-network content of its targets'
// networks where it differs from the post's own.
func (s *Service) addJobVariants(ctx context.Context, agencyID string, post Post, job *portalv1.PublishJob) error {
	all, err := loadVariants(ctx, s.db, []string{post.ID})
	if err != nil {
		return err
	}
	variants := all[post.ID]
	if len(variants) == 0 && !post.UTM.Enabled {
		return nil
	}
	refs, err := s.variantMediaRefs(ctx, agencyID, variants)
	if err != nil {
		return err
	}
	job.Variants = jobVariants(job, post, variants, refs)
	return nil
}

// variantJSON is a variant in the REST API; what it leaves out is the
// post's own (media: [] means none on that network).
type variantJSON struct {
	Text         string              `json:"text,omitempty"`
	Media        *[]variantMediaJSON `json:"media,omitempty"`
	Thread       *[]string           `json:"thread,omitempty"`
	FirstComment *string             `json:"first_comment,omitempty"`
}

type variantMediaJSON struct {
	MediaID string `json:"media_id"`
	AltText string `json:"alt_text,omitempty"`
}

// utmJSON turns link tagging on; {"enabled": false} turns it off.
type utmJSON struct {
	Enabled  *bool  `json:"enabled,omitempty"`
	Source   string `json:"source,omitempty"`
	Medium   string `json:"medium,omitempty"`
	Campaign string `json:"campaign,omitempty"`
}

func (u *utmJSON) input() UTM {
	if u == nil || (u.Enabled != nil && !*u.Enabled) {
		return UTM{}
	}
	return UTM{Enabled: true, Source: u.Source, Medium: u.Medium, Campaign: u.Campaign}
}

func utmPatch(u *utmJSON) *UTM {
	if u == nil {
		return nil
	}
	in := u.input()
	return &in
}

func utmView(u UTM) *utmJSON {
	if !u.Enabled {
		return nil
	}
	return &utmJSON{Source: u.Source, Medium: u.Medium, Campaign: u.Campaign}
}

func variantsInput(in map[string]variantJSON) map[string]Variant {
	if in == nil {
		return nil
	}
	out := make(map[string]Variant, len(in))
	for n, j := range in {
		vr := Variant{Text: j.Text}
		if j.Media != nil {
			vr.HasMedia = true
			for _, m := range *j.Media {
				vr.Media = append(vr.Media, VariantMedia{MediaID: m.MediaID, AltText: m.AltText})
			}
		}
		if j.Thread != nil {
			vr.HasThread, vr.Thread = true, *j.Thread
		}
		if j.FirstComment != nil {
			vr.HasFirstComment, vr.FirstComment = true, *j.FirstComment
		}
		out[n] = vr
	}
	return out
}

func variantsPatch(in *map[string]variantJSON) *map[string]Variant {
	if in == nil {
		return nil
	}
	out := variantsInput(*in)
	if out == nil {
		out = map[string]Variant{}
	}
	return &out
}

func variantsView(vs map[string]Variant) map[string]variantJSON {
	if len(vs) == 0 {
		return nil
	}
	out := make(map[string]variantJSON, len(vs))
	for n, vr := range vs {
		j := variantJSON{Text: vr.Text}
		if vr.HasMedia {
			ms := make([]variantMediaJSON, 0, len(vr.Media))
			for _, m := range vr.Media {
				ms = append(ms, variantMediaJSON{MediaID: m.MediaID, AltText: m.AltText})
			}
			j.Media = &ms
		}
		if vr.HasThread {
			t := slices.Clone(vr.Thread)
			if t == nil {
				t = []string{}
			}
			j.Thread = &t
		}
		if vr.HasFirstComment {
			c := vr.FirstComment
			j.FirstComment = &c
		}
		out[n] = j
	}
	return out
}

// validateTagged is validateOn for a text whose links are tagged per
// network at publish time: each network is asked about its own.
func (s *Service) validateTagged(ctx context.Context, v *errs.Fields, text string, names []string, media []Media, u UTM) error {
	if !u.Enabled {
		return s.validateOn(ctx, v, text, names, media)
	}
	for _, n := range names {
		var sub errs.Fields
		if err := s.validateOn(ctx, &sub, tagLinks(text, u, n), []string{n}, media); err != nil {
			return err
		}
		for f, msg := range sub {
			if len(names) > 1 {
				msg = n + ": " + msg
			}
			v.Add(f, "%s", msg)
		}
	}
	return nil
}
