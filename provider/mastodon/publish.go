package mastodon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
)

type mediaEntity struct {
	ID  string  `json:"id"`
	URL *string `json:"url"`
}

type statusEntity struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	URI string `json:"uri"`
}

// account checks what Publish and VerifyCredentials need from acct and
// returns the instance's base URL.
func account(acct provider.Account) (string, *provider.Error) {
	base, problem := parseInstanceURL(acct.InstanceURL)
	if problem != "" {
		return "", &provider.Error{Kind: provider.Disconnected, Message: "the account's instance address " + problem + "; reconnect the account"}
	}
	if acct.AccessToken == "" {
		return "", &provider.Error{Kind: provider.Disconnected, Message: "the account has no access token; reconnect the account"}
	}
	return base, nil
}

// Publish uploads p's media, waits until the instance has processed them,
// and posts the status with p.IdempotencyKey as Idempotency-Key. Errors are
// *provider.Error. Everything before the status request is safe to repeat
// (an unused upload is cleaned up by the instance), so only a status
// request that went out without an answer is Unknown; repeat it with the
// same key to settle it. Without a key there is nothing to settle with, and
// a repeat may post twice.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	base, perr := account(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	key := accountKey(acct)
	ids := make([]string, 0, len(post.Media))
	for i, m := range post.Media {
		id, err := p.uploadMedia(ctx, base, acct.AccessToken, key, i, m)
		if err != nil {
			return provider.Result{}, err
		}
		ids = append(ids, id)
	}
	return p.postStatus(ctx, base, acct.AccessToken, key, post, ids)
}

func (p *Provider) postStatus(ctx context.Context, base, token, rateKey string, post provider.Post, mediaIDs []string) (provider.Result, error) {
	const op = "posting the status"
	form := url.Values{"status": {post.Text}}
	// A thread's next part, or a first comment, is a reply to the status
	// before it (Mastodon has no comments apart from replies).
	if post.ReplyTo != nil && post.ReplyTo.RemoteID != "" {
		form.Set("in_reply_to_id", post.ReplyTo.RemoteID)
	}
	for _, id := range mediaIDs {
		form.Add("media_ids[]", id)
	}
	req, err := newRequest(ctx, http.MethodPost, base+"/api/v1/statuses", strings.NewReader(form.Encode()))
	if err != nil {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the request could not be built", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if post.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", post.IdempotencyKey)
	}
	ex, err := p.do(req, token, rateKey)
	if err != nil {
		return provider.Result{}, transportError(err, ex, op, true)
	}
	if ex.Res.StatusCode != http.StatusOK {
		if ex.Res.StatusCode == http.StatusNotFound && form.Has("in_reply_to_id") {
			// The instance cannot find the status replied to.
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Status: ex.Res.StatusCode,
				Message: op + ": the status it replies to is gone from the instance"}
		}
		return provider.Result{}, p.statusError(ex, op)
	}
	var st statusEntity
	if err := json.Unmarshal(ex.Body, &st); err != nil || st.ID == "" {
		if err == nil {
			err = fmt.Errorf("mastodon: status without an id: %.200s", ex.Body)
		}
		// The instance said yes but not in a way we can read: the status
		// probably exists, so this is not a blind retry either.
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": the instance's answer could not be read", Status: ex.Res.StatusCode, Err: err}
	}
	res := provider.Result{RemoteID: st.ID, RemoteURL: st.URL}
	if res.RemoteURL == "" {
		res.RemoteURL = st.URI
	}
	return res, nil
}

// uploadMedia uploads media i and returns its id once the instance has
// processed it.
func (p *Provider) uploadMedia(ctx context.Context, base, token, rateKey string, i int, m provider.Media) (string, error) {
	op := fmt.Sprintf("uploading media[%d]", i)
	if m.Open == nil {
		return "", &provider.Error{Kind: provider.BadContent, Message: op + ": the attachment has no content"}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": the attachment could not be read", Err: err}
	}
	// Stream the file into the request instead of holding up to 16 MiB
	// per attachment in memory.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		defer rc.Close()
		pw.CloseWithError(writeMediaForm(mw, rc, m))
	}()
	req, err := newRequest(ctx, http.MethodPost, base+"/api/v2/media", pr)
	if err != nil {
		_ = pr.CloseWithError(err)
		return "", &provider.Error{Kind: provider.BadContent, Message: op + ": the request could not be built", Err: err}
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	ex, err := p.do(req, token, rateKey)
	_ = pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the server answered early
	if err != nil {
		return "", transportError(err, ex, op, false)
	}
	switch ex.Res.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	default:
		return "", p.statusError(ex, op)
	}
	var me mediaEntity
	if err := json.Unmarshal(ex.Body, &me); err != nil || me.ID == "" {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": the instance's answer could not be read", Status: ex.Res.StatusCode, Err: err}
	}
	if me.URL != nil && *me.URL != "" {
		return me.ID, nil
	}
	timeout := p.pollTimeout
	if strings.HasPrefix(m.MimeType, "video/") {
		timeout = p.videoTimeout
	}
	return me.ID, p.awaitMedia(ctx, base, token, rateKey, op, me.ID, timeout)
}

func writeMediaForm(mw *multipart.Writer, file io.Reader, m provider.Media) error {
	name := path.Base(strings.ReplaceAll(m.FileName, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "upload"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipart.FileContentDisposition("file", name))
	h.Set("Content-Type", m.MimeType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, file); err != nil {
		return err
	}
	if m.Description != "" {
		if err := mw.WriteField("description", m.Description); err != nil {
			return err
		}
	}
	return mw.Close()
}

// awaitMedia polls GET /api/v1/media/:id until the instance has processed
// the upload (200 with a url; 206 means not yet), for at most timeout. The
// wait between polls doubles from pollInterval up to maxPollInterval: an
// image is usually ready at once, a video may take minutes, and polling a
// long transcoding every half second would spend the account's rate limit.
func (p *Provider) awaitMedia(ctx context.Context, base, token, rateKey, op, id string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	wait := p.pollInterval
	tick := time.NewTimer(wait)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			wait = min(2*wait, max(maxPollInterval, p.pollInterval))
			tick.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return &provider.Error{Kind: provider.Retry, Message: op + ": stopped while the instance was processing it", Err: ctx.Err()}
		case <-deadline.C:
			return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: the instance was still processing it after %s", op, timeout)}
		case <-tick.C:
		}
		req, err := newRequest(ctx, http.MethodGet, base+"/api/v1/media/"+url.PathEscape(id), nil)
		if err != nil {
			return &provider.Error{Kind: provider.Retry, Message: op + ": the request could not be built", Err: err}
		}
		ex, err := p.do(req, token, rateKey)
		if err != nil {
			return transportError(err, ex, op, false)
		}
		switch ex.Res.StatusCode {
		case http.StatusPartialContent:
			continue
		case http.StatusOK:
			var me mediaEntity
			if json.Unmarshal(ex.Body, &me) == nil && me.URL != nil && *me.URL != "" {
				return nil
			}
		case http.StatusNotFound:
			// The upload vanished (cleaned up, or processing failed): a new
			// attempt uploads it again.
			return &provider.Error{Kind: provider.Retry, Message: op + ": the instance lost the upload while processing it", Status: ex.Res.StatusCode}
		default:
			return p.statusError(ex, op)
		}
	}
}
