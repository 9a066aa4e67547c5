package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // aspect ratios of uploaded images
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/heraldhq/herald/provider"
)

// postCollection is the collection of Bluesky posts.
const postCollection = "app.bsky.feed.post"

// strongRef names one version of a record.
type strongRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

type replyRef struct {
	Root   strongRef `json:"root"`
	Parent strongRef `json:"parent"`
}

type imageEmbed struct {
	Alt         string          `json:"alt"`
	Image       json.RawMessage `json:"image"`
	AspectRatio *aspectRatio    `json:"aspectRatio,omitempty"`
}

type aspectRatio struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

type embed struct {
	Type   string       `json:"$type"`
	Images []imageEmbed `json:"images"`
}

// postRecord is an app.bsky.feed.post record.
type postRecord struct {
	Type      string    `json:"$type"`
	Text      string    `json:"text"`
	CreatedAt string    `json:"createdAt"`
	Facets    []facet   `json:"facets,omitempty"`
	Embed     *embed    `json:"embed,omitempty"`
	Reply     *replyRef `json:"reply,omitempty"`
	Langs     []string  `json:"langs,omitempty"`
}

// storedRecord is getRecord's answer.
type storedRecord struct {
	URI   string `json:"uri"`
	CID   string `json:"cid"`
	Value struct {
		Text  string    `json:"text"`
		Reply *replyRef `json:"reply"`
	} `json:"value"`
}

// Publish uploads p's images, resolves its @mentions, and creates the post
// record under the record key derived from p.IdempotencyKey (RecordKey).
// Errors are *provider.Error. Uploads and look-ups are safe to repeat, so
// only a createRecord that went out without an answer is Unknown; a repeat
// with the same key then either creates the record or finds it already
// there and returns it. Without a key the PDS picks the record key and a
// repeat may post twice.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	base, perr := account(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if acct.RemoteID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no DID; reconnect the account"}
	}
	if v := p.Validate(post.Text, post.Media); len(v) > 0 {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: v[0].Field + " " + v[0].Message}
	}
	rateKey := accountKey(acct)
	rec := postRecord{Type: postCollection, Text: post.Text, CreatedAt: p.now().UTC().Format("2006-01-02T15:04:05.000Z")}
	if post.ReplyTo != nil {
		reply, err := p.replyRefs(ctx, base, rateKey, post)
		if err != nil {
			return provider.Result{}, err
		}
		rec.Reply = reply
	}
	if len(post.Media) > 0 {
		rec.Embed = &embed{Type: "app.bsky.embed.images"}
		for i, m := range post.Media {
			img, err := p.uploadImage(ctx, base, acct.AccessToken, rateKey, i, m)
			if err != nil {
				return provider.Result{}, err
			}
			rec.Embed.Images = append(rec.Embed.Images, img)
		}
	}
	facets, err := p.facets(ctx, base, rateKey, post.Text)
	if err != nil {
		return provider.Result{}, err
	}
	rec.Facets = facets
	rkey := ""
	if post.IdempotencyKey != "" {
		rkey = RecordKey(post.IdempotencyKey)
	}
	return p.createPost(ctx, base, acct, rateKey, rkey, rec)
}

func (p *Provider) createPost(ctx context.Context, base string, acct provider.Account, rateKey, rkey string, rec postRecord) (provider.Result, error) {
	const op = "creating the post"
	body := map[string]any{"repo": acct.RemoteID, "collection": postCollection, "record": rec}
	if rkey != "" {
		body["rkey"] = rkey
	}
	a, err := p.do(ctx, base, call{method: "com.atproto.repo.createRecord", post: true, body: body, token: acct.AccessToken, rateKey: rateKey})
	if err != nil {
		return provider.Result{}, transportError(err, a, op, true)
	}
	if a.status != http.StatusOK {
		// A PDS answers a record key that is taken with a 500 (or, some
		// implementations, 409): when the key is ours, the record there
		// may be this attempt's earlier try, and only reading it tells.
		if rkey != "" && (a.status == http.StatusInternalServerError || a.status == http.StatusConflict) {
			return p.settleDuplicate(ctx, base, acct, rateKey, rkey, rec, p.statusError(a, op))
		}
		return provider.Result{}, p.statusError(a, op)
	}
	var ref strongRef
	if err := a.decode(&ref); err != nil || ref.URI == "" || ref.CID == "" {
		if err == nil {
			err = fmt.Errorf("bluesky: createRecord answered without uri or cid: %.200s", a.body)
		}
		// The PDS said yes in a way we cannot read: the post probably
		// exists, so this is no case for a blind retry either.
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
	}
	return result(acct, ref), nil
}

// settleDuplicate decides a createRecord that failed with failure under
// our own record key: the record there is this post if it has its text and
// reply; no record means the failure was just a failure.
func (p *Provider) settleDuplicate(ctx context.Context, base string, acct provider.Account, rateKey, rkey string, rec postRecord, failure *provider.Error) (provider.Result, error) {
	got, found, err := p.getPost(ctx, base, rateKey, acct.RemoteID, rkey)
	if err != nil {
		// The record may have been written; Lookup settles it later.
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Status: failure.Status,
			Message: "creating the post: the PDS failed and could not say whether the post exists", Err: err}
	}
	if !found {
		return provider.Result{}, failure
	}
	if got.Value.Text != rec.Text || !sameParent(got.Value.Reply, rec.Reply) {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Status: failure.Status,
			Message: "creating the post: a different post already has this attempt's record key; publish it as a new attempt"}
	}
	return result(acct, strongRef{URI: got.URI, CID: got.CID}), nil
}

func sameParent(a, b *replyRef) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Parent.URI == b.Parent.URI
}

func result(acct provider.Account, ref strongRef) provider.Result {
	who := strings.TrimPrefix(acct.Handle, "@")
	if who == "" {
		who = acct.RemoteID
	}
	rkey := ref.URI[strings.LastIndexByte(ref.URI, '/')+1:]
	return provider.Result{
		RemoteID:  ref.URI,
		RemoteURL: "https://bsky.app/profile/" + who + "/post/" + rkey,
		Ref:       ref.URI + " " + ref.CID,
	}
}

// getPost reads a post record; found is false when there is none.
func (p *Provider) getPost(ctx context.Context, base, rateKey, repo, rkey string) (storedRecord, bool, error) {
	const op = "looking up the post"
	a, err := p.do(ctx, base, call{
		method:  "com.atproto.repo.getRecord",
		query:   url.Values{"repo": {repo}, "collection": {postCollection}, "rkey": {rkey}},
		rateKey: rateKey,
	})
	if err != nil {
		return storedRecord{}, false, transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		if x := a.xrpcError(); x.Error == "RecordNotFound" || (a.status == http.StatusBadRequest && strings.Contains(x.Message, "Could not locate record")) {
			return storedRecord{}, false, nil
		}
		return storedRecord{}, false, p.statusError(a, op)
	}
	var r storedRecord
	if err := a.decode(&r); err != nil || r.URI == "" || r.CID == "" {
		return storedRecord{}, false, &provider.Error{Kind: provider.Retry, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
	}
	return r, true, nil
}

// Lookup finds the post Publish created for acct under the idempotency key
// key (com.atproto.repo.getRecord of its record key).
func (p *Provider) Lookup(ctx context.Context, acct provider.Account, key string) (provider.Result, bool, error) {
	base, perr := pdsOf(acct)
	if perr != nil {
		return provider.Result{}, false, perr
	}
	if acct.RemoteID == "" || key == "" {
		return provider.Result{}, false, &provider.Error{Kind: provider.BadContent, Message: "looking up the post: an account DID and an idempotency key are needed"}
	}
	r, found, err := p.getPost(ctx, base, accountKey(acct), acct.RemoteID, RecordKey(key))
	if err != nil || !found {
		return provider.Result{}, false, err
	}
	return result(acct, strongRef{URI: r.URI, CID: r.CID}), true, nil
}

// Delete deletes a post Publish created (com.atproto.repo.deleteRecord).
// Deleting a post that is already gone succeeds.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	const op = "deleting the post"
	base, perr := account(acct)
	if perr != nil {
		return perr
	}
	uri := res.RemoteID
	if uri == "" {
		uri, _, _ = strings.Cut(res.Ref, " ")
	}
	repo, collection, rkey, ok := parseATURI(uri)
	if !ok || collection != postCollection {
		return &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("%s: %q is not the address of a Bluesky post", op, uri)}
	}
	if acct.RemoteID != "" && repo != acct.RemoteID {
		return &provider.Error{Kind: provider.BadContent, Message: op + ": the post belongs to another account"}
	}
	a, err := p.do(ctx, base, call{
		method: "com.atproto.repo.deleteRecord", post: true, token: acct.AccessToken, rateKey: accountKey(acct),
		body: map[string]string{"repo": repo, "collection": collection, "rkey": rkey},
	})
	if err != nil {
		return transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		return p.statusError(a, op)
	}
	return nil
}

// parseATURI splits "at://did/collection/rkey".
func parseATURI(uri string) (repo, collection, rkey string, ok bool) {
	rest, found := strings.CutPrefix(uri, "at://")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// replyRefs builds the reply's strong refs from the parent's and root's
// Results; a Result without a cid in its Ref is read from the PDS.
func (p *Provider) replyRefs(ctx context.Context, base, rateKey string, post provider.Post) (*replyRef, error) {
	parent, err := p.strongRef(ctx, base, rateKey, *post.ReplyTo)
	if err != nil {
		return nil, err
	}
	root := parent
	if post.Root != nil {
		if root, err = p.strongRef(ctx, base, rateKey, *post.Root); err != nil {
			return nil, err
		}
	}
	return &replyRef{Root: root, Parent: parent}, nil
}

func (p *Provider) strongRef(ctx context.Context, base, rateKey string, r provider.Result) (strongRef, error) {
	uri, cid, _ := strings.Cut(strings.TrimSpace(r.Ref), " ")
	if uri == "" {
		uri = r.RemoteID
	}
	if uri != "" && cid != "" {
		return strongRef{URI: uri, CID: cid}, nil
	}
	repo, collection, rkey, ok := parseATURI(uri)
	if !ok || collection != postCollection {
		return strongRef{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("replying: %q is not the address of a Bluesky post", uri)}
	}
	got, found, err := p.getPost(ctx, base, rateKey, repo, rkey)
	if err != nil {
		return strongRef{}, err
	}
	if !found {
		return strongRef{}, &provider.Error{Kind: provider.BadContent, Message: "replying: the post replied to no longer exists"}
	}
	return strongRef{URI: got.URI, CID: got.CID}, nil
}

// uploadImage uploads media i (com.atproto.repo.uploadBlob) and returns its
// entry in the images embed.
func (p *Provider) uploadImage(ctx context.Context, base, token, rateKey string, i int, m provider.Media) (imageEmbed, error) {
	op := fmt.Sprintf("uploading media[%d]", i)
	if m.Open == nil {
		return imageEmbed{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the image has no content"}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return imageEmbed{}, &provider.Error{Kind: provider.Retry, Message: op + ": the image could not be read", Err: err}
	}
	// Images are at most 1,000,000 bytes: hold one in memory, to learn
	// its dimensions and to refuse a larger one before sending it.
	b, err := io.ReadAll(io.LimitReader(rc, MaxImageBytes+1))
	_ = rc.Close()
	if err != nil {
		return imageEmbed{}, &provider.Error{Kind: provider.Retry, Message: op + ": the image could not be read", Err: err}
	}
	if len(b) > MaxImageBytes {
		return imageEmbed{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the image is larger than Bluesky's 1,000,000 bytes"}
	}
	a, err := p.do(ctx, base, call{method: "com.atproto.repo.uploadBlob", post: true, raw: bytes.NewReader(b), contentType: mediaType(m.MimeType), token: token, rateKey: rateKey})
	if err != nil {
		return imageEmbed{}, transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		return imageEmbed{}, p.statusError(a, op)
	}
	var out struct {
		Blob json.RawMessage `json:"blob"`
	}
	if err := a.decode(&out); err != nil || len(out.Blob) == 0 || string(out.Blob) == "null" {
		return imageEmbed{}, &provider.Error{Kind: provider.Retry, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
	}
	img := imageEmbed{Alt: m.Description, Image: out.Blob}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
		img.AspectRatio = &aspectRatio{Width: cfg.Width, Height: cfg.Height}
	}
	return img, nil
}

// facets finds the links, mentions and hashtags in text. Mentions are
// resolved to DIDs with com.atproto.identity.resolveHandle; a handle the
// PDS cannot resolve stays plain text.
func (p *Provider) facets(ctx context.Context, base, rateKey, text string) ([]facet, error) {
	out := findLinks(text)
	resolved := map[string]string{}
	for _, m := range findMentions(text) {
		if overlaps(m.span, out) {
			continue
		}
		did, seen := resolved[m.handle]
		if !seen {
			var err error
			if did, err = p.resolveHandle(ctx, base, rateKey, m.handle); err != nil {
				return nil, err
			}
			resolved[m.handle] = did
		}
		if did != "" {
			out = append(out, facet{Index: m.span, Features: []feature{{Type: mentionFeature, DID: did}}})
		}
	}
	for _, t := range findTags(text) {
		if !overlaps(t.Index, out) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index.ByteStart < out[j].Index.ByteStart })
	return out, nil
}

// resolveHandle returns handle's DID, or "" when the PDS says it cannot
// resolve it.
func (p *Provider) resolveHandle(ctx context.Context, base, rateKey, handle string) (string, error) {
	op := "resolving @" + handle
	a, err := p.do(ctx, base, call{method: "com.atproto.identity.resolveHandle", query: url.Values{"handle": {handle}}, rateKey: rateKey})
	if err != nil {
		return "", transportError(err, a, op, false)
	}
	switch {
	case a.status == http.StatusOK:
		var out struct {
			DID string `json:"did"`
		}
		if err := a.decode(&out); err != nil {
			return "", &provider.Error{Kind: provider.Retry, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
		}
		return out.DID, nil
	case a.status == http.StatusBadRequest || a.status == http.StatusNotFound:
		return "", nil // no such handle: the mention stays text
	default:
		return "", p.statusError(a, op)
	}
}
