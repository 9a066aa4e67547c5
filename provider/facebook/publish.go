package facebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// Publish posts p to acct's page: text to the feed, one image as a photo
// post, several as unpublished photos attached to one feed post, or, with
// AsComment and ReplyTo, a comment on an earlier post. Errors are
// *provider.Error; only a request that makes something public and went out
// without an answer is Unknown (see the package doc: there is no way to
// settle it but to look).
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	v, err := p.publish(ctx, acct, post)
	return v, graph.WithoutRefresh(err)
}

func (p *Provider) publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if post.ReplyTo != nil {
		if !post.AsComment {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "Facebook pages have no threads; post the follow-up as a comment instead"}
		}
		return p.comment(ctx, api, acct, post)
	}
	page := "/" + url.PathEscape(acct.RemoteID)
	switch len(post.Media) {
	case 0:
		form := url.Values{"message": {post.Text}}
		if link := firstLink(post.Text); link != "" {
			// Named as the post's link, it gets Facebook's preview card.
			form.Set("link", link)
		}
		return p.feed(ctx, api, acct, form)
	case 1:
		if imageRules.IsVideo(post.Media[0]) {
			return p.video(ctx, api, acct, post.Text, post.Media[0])
		}
		var out struct {
			ID     string `json:"id"`
			PostID string `json:"post_id"`
		}
		err := p.photo(ctx, api, acct, page+"/photos", "publishing the photo", 0, post.Media[0], url.Values{"message": {post.Text}, "published": {"true"}}, true, &out)
		if err != nil {
			return provider.Result{}, err
		}
		id := out.PostID
		if id == "" {
			id = acct.RemoteID + "_" + out.ID
		}
		return result(id), nil
	}
	form := url.Values{"message": {post.Text}}
	for i, m := range post.Media {
		var out struct {
			ID string `json:"id"`
		}
		op := fmt.Sprintf("uploading media[%d]", i)
		if err := p.photo(ctx, api, acct, page+"/photos", op, i, m, url.Values{"published": {"false"}}, false, &out); err != nil {
			return provider.Result{}, err
		}
		if out.ID == "" {
			return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no photo id"}
		}
		b, _ := json.Marshal(map[string]string{"media_fbid": out.ID})
		form.Set("attached_media["+strconv.Itoa(i)+"]", string(b))
	}
	return p.feed(ctx, api, acct, form)
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// firstLink is the first web address in text, without trailing
// punctuation.
func firstLink(text string) string {
	return strings.TrimRight(linkRE.FindString(text), ".,;:!?)]}'")
}

func result(id string) provider.Result {
	return provider.Result{RemoteID: id, RemoteURL: "https://www.facebook.com/" + id, Ref: id}
}

func (p *Provider) feed(ctx context.Context, api graph.API, acct provider.Account, form url.Values) (provider.Result, error) {
	const op = "posting to the page"
	var out struct {
		ID string `json:"id"`
	}
	err := p.c.Do(ctx, graph.Call{
		Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(acct.RemoteID)+"/feed", nil), Token: acct.AccessToken,
		Form: form, RateKey: graph.AccountKey(acct), Op: op, Effect: true,
	}, &out)
	if err != nil {
		return provider.Result{}, err
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no post id"}
	}
	return result(out.ID), nil
}

// comment posts a comment as the page on post.ReplyTo, with at most one
// image.
func (p *Provider) comment(ctx context.Context, api graph.API, acct provider.Account, post provider.Post) (provider.Result, error) {
	const op = "commenting on the post"
	target := post.ReplyTo.RemoteID
	if target == "" {
		target = post.ReplyTo.Ref
	}
	if target == "" {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": there is no post to comment on"}
	}
	if len(post.Media) > 1 || (len(post.Media) == 1 && imageRules.IsVideo(post.Media[0])) {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": a Facebook comment takes at most one image, and no video"}
	}
	u := "/" + url.PathEscape(target) + "/comments"
	var out struct {
		ID string `json:"id"`
	}
	form := url.Values{"message": {post.Text}}
	var err error
	if len(post.Media) == 1 {
		err = p.photo(ctx, api, acct, u, op, 0, post.Media[0], form, true, &out)
	} else {
		err = p.c.Do(ctx, graph.Call{Method: http.MethodPost, URL: api.URL(u, nil), Token: acct.AccessToken, Form: form, RateKey: graph.AccountKey(acct), Op: op, Effect: true}, &out)
	}
	if err != nil {
		return provider.Result{}, err
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no comment id"}
	}
	return result(out.ID), nil
}

// photo sends one image to edge (a page's photos, a post's comments):
// by URL when the provider has a MediaURL, else uploaded as the multipart
// "source" ("attachment_url" and "source" on comments).
func (p *Provider) photo(ctx context.Context, api graph.API, acct provider.Account, edge, op string, i int, m provider.Media, fields url.Values, effect bool, out any) error {
	isComment := strings.HasSuffix(edge, "/comments")
	call := graph.Call{Method: http.MethodPost, URL: api.URL(edge, nil), Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op, Effect: effect}
	if p.mediaURL != nil {
		u, err := p.mediaURL(ctx, m)
		if err != nil {
			return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: no public address for media[%d]", op, i), Err: err}
		}
		form := url.Values{}
		for k, v := range fields {
			form[k] = v
		}
		if isComment {
			form.Set("attachment_url", u)
		} else {
			form.Set("url", u)
		}
		call.Form = form
		return p.c.Do(ctx, call, out)
	}
	if m.Open == nil {
		return &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("%s: media[%d] has no content", op, i)}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: media[%d] could not be read", op, i), Err: err}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	field := "source"
	go func() {
		defer rc.Close()
		pw.CloseWithError(writeForm(mw, fields, field, m, rc))
	}()
	call.Body, call.ContentType = pr, mw.FormDataContentType()
	err = p.c.Do(ctx, call, out)
	_ = pr.CloseWithError(io.ErrClosedPipe)
	return err
}

// video posts m to the page as a video post (POST /{page-id}/videos),
// by file_url when the provider has a video or media URL, else uploaded as the
// multipart "source", then polls its status until Facebook has processed
// it. The upload is what publishes (Facebook shows the post once the video
// is ready), so a lost answer to it is Unknown; a video that fails
// processing never appears and is BadContent; one still processing when
// the wait ends is reported published, as it will be when ready.
func (p *Provider) video(ctx context.Context, api graph.API, acct provider.Account, text string, m provider.Media) (provider.Result, error) {
	const op = "publishing the video"
	var out struct {
		ID string `json:"id"`
	}
	fields := url.Values{"description": {text}, "published": {"true"}}
	call := graph.Call{Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(acct.RemoteID)+"/videos", nil), Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op, Effect: true}
	link := p.videoURL
	if link == nil {
		link = p.mediaURL
	}
	if link != nil {
		u, err := link(ctx, m)
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: op + ": no public address for media[0]", Err: err}
		}
		fields.Set("file_url", u)
		call.Form = fields
		if err := p.c.Do(ctx, call, &out); err != nil {
			return provider.Result{}, err
		}
	} else {
		if m.Open == nil {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": media[0] has no content"}
		}
		rc, err := m.Open(ctx)
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.Retry, Message: op + ": media[0] could not be read", Err: err}
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			defer rc.Close()
			pw.CloseWithError(writeForm(mw, fields, "source", m, rc))
		}()
		call.Body, call.ContentType = pr, mw.FormDataContentType()
		err = p.c.Do(ctx, call, &out)
		_ = pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			return provider.Result{}, err
		}
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no video id"}
	}
	res := provider.Result{RemoteID: out.ID, RemoteURL: "https://www.facebook.com/" + url.PathEscape(acct.RemoteID) + "/videos/" + out.ID, Ref: out.ID}
	if err := p.awaitVideo(ctx, api, acct, out.ID); err != nil {
		return provider.Result{}, err
	}
	return res, nil
}

// awaitVideo polls GET /{video-id}?fields=status while its video_status
// is processing, for at most pollTimeout.
func (p *Provider) awaitVideo(ctx context.Context, api graph.API, acct provider.Account, id string) error {
	const op = "waiting for Facebook to process the video"
	deadline := time.Now().Add(p.pollTimeout)
	u := api.URL("/"+url.PathEscape(id), url.Values{"fields": {"status"}})
	for {
		var out struct {
			Status struct {
				VideoStatus string `json:"video_status"`
				Error       *struct {
					Message string `json:"message"`
				} `json:"error"`
			} `json:"status"`
		}
		if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &out); err != nil {
			// The video is Facebook's now: a failing status call does not
			// undo it, and a new attempt would post it twice.
			return nil
		}
		switch out.Status.VideoStatus {
		case "ready", "":
			return nil
		case "error":
			why := "it could not use the video"
			if out.Status.Error != nil && out.Status.Error.Message != "" {
				why = out.Status.Error.Message
			}
			return &provider.Error{Kind: provider.BadContent, Message: op + ": Facebook refused the video: " + why}
		}
		if time.Now().After(deadline) {
			return nil
		}
		t := time.NewTimer(p.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func writeForm(mw *multipart.Writer, fields url.Values, fileField string, m provider.Media, file io.Reader) error {
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				return err
			}
		}
	}
	name := path.Base(strings.ReplaceAll(m.FileName, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "upload"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipart.FileContentDisposition(fileField, name))
	h.Set("Content-Type", m.MimeType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, file); err != nil {
		return err
	}
	return mw.Close()
}

// Delete deletes a post or comment (DELETE /{id}). One that is already
// gone counts as deleted; a lost answer is Retry, since deleting twice is
// harmless.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	return graph.WithoutRefresh(p.delete(ctx, acct, res))
}

func (p *Provider) delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	api, perr := p.account(acct)
	if perr != nil {
		return perr
	}
	id := res.RemoteID
	if id == "" {
		id = res.Ref
	}
	if id == "" {
		return &provider.Error{Kind: provider.BadContent, Message: "deleting the post: there is no post id"}
	}
	err := p.c.Do(ctx, graph.Call{Method: http.MethodDelete, URL: api.URL("/"+url.PathEscape(id), nil), Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: "deleting the post"}, nil)
	var pe *provider.Error
	if errors.As(err, &pe) {
		var ge *graph.APIError
		if errors.As(pe.Err, &ge) && ge.Code == graph.CodeInvalidParameter && ge.Subcode == 33 {
			return nil
		}
	}
	return err
}
