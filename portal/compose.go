package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/errs"
	publisherv1 "github.com/heraldhq/herald/gen/herald/publisher/v1"
	"github.com/heraldhq/herald/provider/mastodon/charcount"
	"github.com/heraldhq/herald/provider/threads"
	"github.com/heraldhq/herald/provider/x/xtext"
)

// The composer: one post, a variant per network, checked as it is typed.
//
// The page asks POST /workspaces/{id}/compose/check with the form as it
// stands (debounced); the answer has, per network of the chosen accounts,
// the text's length counted as that network counts it, the network's
// limit, the network's own objections (Publisher's Validate, the check a
// save makes) and what would be published, for the preview. Counting stays
// in Go, with the providers' own counting code, so the page never
// disagrees with the save.

// countText is text's length in the unit network limits it in, with the
// counting its provider's Validate uses.
func countText(network, text string) int {
	switch network {
	case "x":
		return xtext.Count(text)
	case "mastodon":
		return charcount.Count(text)
	case "threads":
		return threads.Count(text)
	case "linkedin":
		return utf8.RuneCountInString(text)
	case "discord", "telegram", "slack":
		return len(utf16.Encode([]rune(text)))
	default:
		// Bluesky, Facebook, Instagram and the webhook count graphemes.
		return uniseg.GraphemeClusterCount(text)
	}
}

// composeNetwork is one network's side of a compose check.
type composeNetwork struct {
	Network string `json:"network"`
	Label   string `json:"label"`
	// Count is the text's length in the network's unit; Limit its limit
	// (0: not known).
	Count  int               `json:"count"`
	Limit  int               `json:"limit"`
	Errors map[string]string `json:"errors"`
	// Preview is what the network's accounts would publish.
	Preview composePreview `json:"preview"`
}

type composePreview struct {
	Text         string   `json:"text"`
	MediaIDs     []string `json:"media_ids"`
	Thread       []string `json:"thread"`
	FirstComment string   `json:"first_comment,omitempty"`
}

// ComposeCheck checks a post being written, per network of its accounts,
// and stores nothing. Unknown accounts or media are field errors of the
// answer, not of the call.
func (s *Service) ComposeCheck(ctx context.Context, p *Principal, workspaceID string, in PostInput) ([]composeNetwork, errs.Fields, error) {
	ws, err := s.authorize(ctx, s.db, p, workspaceID, actWritePosts)
	if err != nil {
		return nil, nil, err
	}
	var v errs.Fields
	accounts := s.checkAccounts(ctx, &v, p.AgencyID, ws.ID, in.AccountIDs)
	media := s.checkMedia(ctx, &v, p.AgencyID, ws.ID, in.MediaIDs)
	own := Post{Text: in.Text, Thread: in.Thread, FirstComment: in.FirstComment, UTM: in.UTM}
	out := []composeNetwork{}
	for _, n := range networkNames(accounts) {
		vr := in.Variants[n]
		r := vr.resolve(own)
		text := tagLinks(r.text, in.UTM, n)
		ms, ids := media, in.MediaIDs
		if vr.HasMedia {
			var sub errs.Fields
			ids = nil
			for _, m := range vr.Media {
				ids = append(ids, m.MediaID)
			}
			ms = s.checkMedia(ctx, &sub, p.AgencyID, ws.ID, ids)
			for i := range ms {
				if i < len(vr.Media) && vr.Media[i].AltText != "" {
					ms[i].Description = vr.Media[i].AltText
				}
			}
		}
		cn := composeNetwork{Network: n, Label: networkLabel(n), Count: countText(n, text), Errors: map[string]string{},
			Preview: composePreview{Text: text, MediaIDs: ids, Thread: r.thread, FirstComment: r.firstComment}}
		if cn.Preview.MediaIDs == nil {
			cn.Preview.MediaIDs = []string{}
		}
		if cn.Preview.Thread == nil {
			cn.Preview.Thread = []string{}
		}
		var sub errs.Fields
		if err := s.validateOn(ctx, &sub, text, []string{n}, ms); err != nil {
			return nil, nil, err
		}
		if err := s.validatePartsOn(ctx, &sub, r.thread, r.firstComment, []string{n}); err != nil {
			return nil, nil, err
		}
		for f, msg := range sub {
			cn.Errors[f] = msg
		}
		res, err := s.publisher.Validate(ctx, &publisherv1.ValidateRequest{Network: n, Text: "-"})
		if err == nil {
			cn.Limit = int(res.GetLimits().GetMaxTextChars())
		}
		out = append(out, cn)
	}
	return out, v, nil
}

// --- the web form ---

// formVariants reads the composer's per-network fields: variant.N.text,
// variant.N.first_comment, variant.N.thread (parts separated by a line
// "---") and variant.N.alt.MEDIA (alt text of a chosen image there). An
// empty field keeps the post's own.
func formVariants(r *http.Request) map[string]Variant {
	out := map[string]Variant{}
	media := r.PostForm["media_ids"]
	keys := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "variant.")
		if !ok {
			continue
		}
		n, field, ok := strings.Cut(rest, ".")
		val := strings.TrimSpace(r.PostForm.Get(k))
		if !ok || n == "" || val == "" {
			continue
		}
		vr := out[n]
		switch {
		case field == "text":
			vr.Text = r.PostForm.Get(k)
		case field == "first_comment":
			vr.HasFirstComment, vr.FirstComment = true, val
		case field == "thread":
			vr.HasThread, vr.Thread = true, splitThread(val)
		case strings.HasPrefix(field, "alt."):
			if !vr.HasMedia {
				vr.HasMedia = true
				for _, id := range media {
					vr.Media = append(vr.Media, VariantMedia{MediaID: id})
				}
			}
			id := strings.TrimPrefix(field, "alt.")
			for i := range vr.Media {
				if vr.Media[i].MediaID == id {
					vr.Media[i].AltText = val
				}
			}
		default:
			continue
		}
		out[n] = vr
	}
	return out
}

var threadSep = regexp.MustCompile(`(?m)^\s*---\s*$`)

// splitThread cuts a textarea into a thread's parts at lines "---".
func splitThread(s string) []string {
	var out []string
	for _, part := range threadSep.Split(s, -1) {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// formUTM reads the composer's link tagging: the utm checkbox and its
// utm_source, utm_medium and utm_campaign.
func formUTM(r *http.Request) UTM {
	if r.PostForm.Get("utm") == "" {
		return UTM{}
	}
	return UTM{Enabled: true, Source: strings.TrimSpace(r.PostForm.Get("utm_source")),
		Medium: strings.TrimSpace(r.PostForm.Get("utm_medium")), Campaign: strings.TrimSpace(r.PostForm.Get("utm_campaign"))}
}

// variantFormErrors turns a refusal's "variants.N.field" errors into one
// "variant_N" error per network, worded for the form, and returns the
// inputs they now name.
func variantFormErrors(err error) (error, []string) {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return err, nil
	}
	out := *e
	out.Fields = map[string]string{}
	var inputs []string
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, f := range keys {
		msg := e.Fields[f]
		rest, ok := strings.CutPrefix(f, "variants.")
		if !ok {
			out.Fields[f] = msg
			continue
		}
		n, field, _ := strings.Cut(rest, ".")
		key := "variant_" + n
		if field != "" {
			msg = partLabel(field) + " " + msg
		}
		if prev := out.Fields[key]; prev != "" {
			msg = prev + " " + msg
		} else {
			inputs = append(inputs, key)
		}
		out.Fields[key] = msg
	}
	return &out, inputs
}

// partLabel names a variant's field for a person: "thread[1]" is "Thread
// part 2".
func partLabel(field string) string {
	name, idx, _ := strings.Cut(field, "[")
	idx = strings.TrimSuffix(idx, "]")
	var label string
	switch {
	case strings.HasPrefix(name, "text"):
		label = "Text"
	case name == "thread":
		label = "Thread part"
	case name == "first_comment":
		label = "First comment"
	case strings.HasPrefix(name, "media"):
		label = "Image"
	default:
		label = strings.ReplaceAll(name, "_", " ")
	}
	if i, err := strconv.Atoi(idx); err == nil {
		label += " " + strconv.Itoa(i+1)
	}
	if strings.HasSuffix(field, ".alt_text") {
		label += " alt text"
	}
	return label
}

// composeNetworks lists the distinct networks of a workspace's accounts,
// for the composer's per-network sections.
func composeNetworks(accounts []Account) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range accounts {
		if !seen[a.Network] {
			seen[a.Network] = true
			out = append(out, a.Network)
		}
	}
	sort.Strings(out)
	return out
}

// POST /workspaces/{id}/compose/check (the composer's form) -> {networks:
// [...], errors: {field: message}}
func (u *webUI) composeCheck(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in := PostInput{Text: r.PostFormValue("text"), AccountIDs: r.PostForm["account_ids"], MediaIDs: r.PostForm["media_ids"],
		Variants: formVariants(r), UTM: formUTM(r)}
	if t := strings.TrimSpace(r.PostFormValue("thread")); t != "" {
		in.Thread = splitThread(t)
	}
	in.FirstComment = strings.TrimSpace(r.PostFormValue("first_comment"))
	nets, fields, err := u.s.ComposeCheck(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	if fields == nil {
		fields = errs.Fields{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(map[string]any{"networks": nets, "errors": fields})
}

// variantsLine describes a post's variants on the post page: which
// networks get their own version.
func variantsLine(vs map[string]Variant) string {
	if len(vs) == 0 {
		return ""
	}
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, networkLabel(n))
	}
	sort.Strings(names)
	return fmt.Sprintf("Own version for %s", strings.Join(names, ", "))
}
