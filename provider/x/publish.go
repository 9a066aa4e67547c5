package x

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

func checkAccount(acct provider.Account) *provider.Error {
	if acct.AccessToken == "" {
		return &provider.Error{Kind: provider.Disconnected, Message: "the account has no access token; reconnect the account"}
	}
	return nil
}

// Publish uploads p's images, then creates the post, as a reply when
// post.ReplyTo is set (a thread's next part or a first comment: X has no
// other kind of comment). Errors are *provider.Error; only a post request
// that went out without an answer is Unknown. Everything before it is
// safe to repeat (an unused upload expires on X's side).
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	if perr := checkAccount(acct); perr != nil {
		return provider.Result{}, perr
	}
	base := baseURL(acct)
	ids := make([]string, 0, len(post.Media))
	for i, m := range post.Media {
		id, err := p.uploadMedia(ctx, base, acct, i, m)
		if err != nil {
			return provider.Result{}, err
		}
		ids = append(ids, id)
	}
	return p.createPost(ctx, base, acct, post, ids)
}

type createBody struct {
	Text  string `json:"text,omitempty"`
	Media *struct {
		MediaIDs []string `json:"media_ids"`
	} `json:"media,omitempty"`
	Reply *struct {
		InReplyToTweetID string `json:"in_reply_to_tweet_id"`
	} `json:"reply,omitempty"`
}

func (p *Provider) createPost(ctx context.Context, base string, acct provider.Account, post provider.Post, mediaIDs []string) (provider.Result, error) {
	const op = "posting to X"
	body := createBody{Text: post.Text}
	if len(mediaIDs) > 0 {
		body.Media = &struct {
			MediaIDs []string `json:"media_ids"`
		}{mediaIDs}
	}
	if post.ReplyTo != nil {
		if post.ReplyTo.RemoteID == "" {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the post to reply to has no X id"}
		}
		body.Reply = &struct {
			InReplyToTweetID string `json:"in_reply_to_tweet_id"`
		}{post.ReplyTo.RemoteID}
	}
	b, _ := json.Marshal(body)
	req, perr := httpcall.NewRequest(ctx, http.MethodPost, base+"/2/tweets", bytes.NewReader(b), op)
	if perr != nil {
		return provider.Result{}, perr
	}
	req.Header.Set("Content-Type", "application/json")
	ex, err := p.call(req, acct, true)
	if err != nil {
		return provider.Result{}, httpcall.TransportError(err, ex, op, "X", true)
	}
	if ex.Res.StatusCode != http.StatusCreated && ex.Res.StatusCode != http.StatusOK {
		return provider.Result{}, p.statusError(acct, ex, op)
	}
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil || out.Data.ID == "" {
		// X said yes in a way that cannot be read: the post probably
		// exists, so this is not a blind retry either.
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": X's answer could not be read", Status: ex.Res.StatusCode, Err: fmt.Errorf("x: post answer: %w: %.200s", err, ex.Body)}
	}
	return provider.Result{RemoteID: out.Data.ID, RemoteURL: postURL(acct, out.Data.ID), Ref: out.Data.ID}, nil
}

func postURL(acct provider.Account, id string) string {
	if h := strings.TrimPrefix(acct.Handle, "@"); h != "" {
		return "https://x.com/" + url.PathEscape(h) + "/status/" + id
	}
	return "https://x.com/i/web/status/" + id
}

type mediaData struct {
	ID             string `json:"id"`
	ProcessingInfo *struct {
		State          string `json:"state"`
		CheckAfterSecs int    `json:"check_after_secs"`
		Error          *struct {
			Message string `json:"message"`
		} `json:"error"`
	} `json:"processing_info"`
}

// uploadMedia uploads media i in chunks, waits for X to process it, sets
// its alt text, and returns its media id.
func (p *Provider) uploadMedia(ctx context.Context, base string, acct provider.Account, i int, m provider.Media) (string, error) {
	op := fmt.Sprintf("uploading media[%d]", i)
	if m.Open == nil || m.Size <= 0 {
		return "", &provider.Error{Kind: provider.BadContent, Message: op + ": the attachment has no content"}
	}
	category, timeout := "tweet_image", p.pollTimeout
	switch {
	case mediaType(m) == "image/gif":
		category = "tweet_gif" // X's category for (animated) GIFs
	case slices.Contains(VideoTypes, mediaType(m)):
		// X processes a video asynchronously, and only with this category.
		category, timeout = "tweet_video", p.videoTimeout
	}
	init, _ := json.Marshal(map[string]any{"media_type": mediaType(m), "total_bytes": m.Size, "media_category": category})
	var md mediaData
	if err := p.mediaCall(ctx, acct, op, http.MethodPost, base+"/2/media/upload/initialize", "application/json", bytes.NewReader(init), &md); err != nil {
		return "", err
	}
	if md.ID == "" {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": X's answer had no media id"}
	}
	id := md.ID
	rc, err := m.Open(ctx)
	if err != nil {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": the attachment could not be read", Err: err}
	}
	defer rc.Close()
	buf := make([]byte, p.chunk)
	var sent int64
	for seg := 0; ; seg++ {
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 {
			if err := p.appendChunk(ctx, base, acct, op, id, seg, buf[:n]); err != nil {
				return "", err
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", &provider.Error{Kind: provider.Retry, Message: op + ": the attachment could not be read", Err: rerr}
		}
	}
	if sent != m.Size {
		return "", &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("%s: the attachment is %d bytes, not the %d it was said to be", op, sent, m.Size)}
	}
	md = mediaData{}
	if err := p.mediaCall(ctx, acct, op, http.MethodPost, base+"/2/media/upload/"+url.PathEscape(id)+"/finalize", "", nil, &md); err != nil {
		return "", err
	}
	if err := p.awaitMedia(ctx, base, acct, op, id, md, timeout); err != nil {
		return "", err
	}
	// X takes alt text for images and GIFs only: a video's description
	// is left out rather than failing the post.
	if m.Description != "" && category != "tweet_video" {
		meta, _ := json.Marshal(map[string]any{"id": id, "metadata": map[string]any{"alt_text": map[string]string{"text": m.Description}}})
		if err := p.mediaCall(ctx, acct, op+" (alt text)", http.MethodPost, base+"/2/media/metadata", "application/json", bytes.NewReader(meta), nil); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (p *Provider) appendChunk(ctx context.Context, base string, acct provider.Account, op, id string, seg int, chunk []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("segment_index", strconv.Itoa(seg))
	part, _ := mw.CreateFormFile("media", "chunk")
	_, _ = part.Write(chunk)
	_ = mw.Close()
	return p.mediaCall(ctx, acct, op, http.MethodPost, base+"/2/media/upload/"+url.PathEscape(id)+"/append", mw.FormDataContentType(), &body, nil)
}

// mediaCall makes one media request and decodes its "data" into out.
func (p *Provider) mediaCall(ctx context.Context, acct provider.Account, op, method, u, contentType string, body io.Reader, out *mediaData) error {
	req, perr := httpcall.NewRequest(ctx, method, u, body, op)
	if perr != nil {
		return perr
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	ex, err := p.call(req, acct, false)
	if err != nil {
		return httpcall.TransportError(err, ex, op, "X", false)
	}
	if ex.Res.StatusCode < 200 || ex.Res.StatusCode > 299 {
		return p.statusError(acct, ex, op)
	}
	if out != nil {
		var wrap struct {
			Data mediaData `json:"data"`
		}
		if err := json.Unmarshal(ex.Body, &wrap); err != nil {
			return &provider.Error{Kind: provider.Retry, Message: op + ": X's answer could not be read", Status: ex.Res.StatusCode, Err: err}
		}
		*out = wrap.Data
	}
	return nil
}

// awaitMedia polls the upload's status while X reports processing_info
// that is pending or in progress, for at most timeout.
func (p *Provider) awaitMedia(ctx context.Context, base string, acct provider.Account, op, id string, md mediaData, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		info := md.ProcessingInfo
		if info == nil || info.State == "succeeded" {
			return nil
		}
		if info.State == "failed" {
			msg := "X could not process it"
			if info.Error != nil && info.Error.Message != "" {
				msg = httpcall.Short(info.Error.Message)
			}
			return &provider.Error{Kind: provider.BadContent, Message: op + ": " + msg}
		}
		wait := p.pollInterval
		if wait <= 0 {
			wait = time.Duration(max(1, info.CheckAfterSecs)) * time.Second
		}
		if time.Now().Add(wait).After(deadline) {
			return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: X was still processing it after %s", op, timeout)}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &provider.Error{Kind: provider.Retry, Message: op + ": stopped while X was processing it", Err: ctx.Err()}
		case <-t.C:
		}
		md = mediaData{}
		q := url.Values{"command": {"STATUS"}, "media_id": {id}}
		if err := p.mediaCall(ctx, acct, op, http.MethodGet, base+"/2/media/upload?"+q.Encode(), "", nil, &md); err != nil {
			return err
		}
	}
}

// Delete deletes a published post (DELETE /2/tweets/:id). A post that is
// already gone counts as deleted.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	const op = "deleting the post"
	if perr := checkAccount(acct); perr != nil {
		return perr
	}
	if res.RemoteID == "" {
		return &provider.Error{Kind: provider.BadContent, Message: op + ": the post has no X id"}
	}
	req, perr := httpcall.NewRequest(ctx, http.MethodDelete, baseURL(acct)+"/2/tweets/"+url.PathEscape(res.RemoteID), nil, op)
	if perr != nil {
		return perr
	}
	ex, err := p.call(req, acct, false)
	if err != nil {
		return httpcall.TransportError(err, ex, op, "X", false)
	}
	switch ex.Res.StatusCode {
	case http.StatusOK, http.StatusNotFound:
		return nil
	}
	return p.statusError(acct, ex, op)
}

// VerifyCredentials asks X whose token acct holds (GET /2/users/me).
// Profile.RemoteID is the user id to keep as Account.RemoteID.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	const op = "checking the account"
	if perr := checkAccount(acct); perr != nil {
		return provider.Profile{}, perr
	}
	req, perr := httpcall.NewRequest(ctx, http.MethodGet, baseURL(acct)+"/2/users/me", nil, op)
	if perr != nil {
		return provider.Profile{}, perr
	}
	ex, err := p.call(req, acct, false)
	if err != nil {
		return provider.Profile{}, httpcall.TransportError(err, ex, op, "X", false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return provider.Profile{}, p.statusError(acct, ex, op)
	}
	var out struct {
		Data struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			Username string `json:"username"`
		} `json:"data"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil || out.Data.ID == "" || out.Data.Username == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": X's answer could not be read", Err: err}
	}
	name := out.Data.Name
	if strings.TrimSpace(name) == "" {
		name = out.Data.Username
	}
	return provider.Profile{RemoteID: out.Data.ID, Handle: "@" + out.Data.Username, DisplayName: name, URL: "https://x.com/" + out.Data.Username}, nil
}

var linkRE = regexp.MustCompile(`(?i)https?://\S+`)

// sameText compares a post's text as Herald sent it with the text X
// returns: X escapes &, < and > and rewrites links to t.co, so entities are
// undone and links left out.
func sameText(sent, got string) bool {
	norm := func(s string) string { return strings.Join(strings.Fields(linkRE.ReplaceAllString(s, " ")), " ") }
	return norm(sent) == norm(html.UnescapeString(got))
}

// FindByText looks for a post with exactly text among acct's posts since
// since (at most the latest 100), to settle an Unknown outcome: found true
// means the earlier try went through. It is best effort: two posts with
// the same text apart from their links cannot be told apart, and X's
// timeline may lag a few seconds behind a post. acct.RemoteID must be the
// X user id.
func (p *Provider) FindByText(ctx context.Context, acct provider.Account, text string, since time.Time) (provider.Result, bool, error) {
	const op = "looking for the post"
	if perr := checkAccount(acct); perr != nil {
		return provider.Result{}, false, perr
	}
	if acct.RemoteID == "" {
		return provider.Result{}, false, &provider.Error{Kind: provider.Disconnected, Message: op + ": the account has no X user id; reconnect the account"}
	}
	q := url.Values{"max_results": {"100"}, "tweet.fields": {"created_at"}}
	if !since.IsZero() {
		q.Set("start_time", since.UTC().Format(time.RFC3339))
	}
	req, perr := httpcall.NewRequest(ctx, http.MethodGet, baseURL(acct)+"/2/users/"+url.PathEscape(acct.RemoteID)+"/tweets?"+q.Encode(), nil, op)
	if perr != nil {
		return provider.Result{}, false, perr
	}
	ex, err := p.call(req, acct, false)
	if err != nil {
		return provider.Result{}, false, httpcall.TransportError(err, ex, op, "X", false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return provider.Result{}, false, p.statusError(acct, ex, op)
	}
	var out struct {
		Data []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"data"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil {
		return provider.Result{}, false, &provider.Error{Kind: provider.Retry, Message: op + ": X's answer could not be read", Err: err}
	}
	for _, t := range out.Data {
		if sameText(text, t.Text) {
			return provider.Result{RemoteID: t.ID, RemoteURL: postURL(acct, t.ID), Ref: t.ID}, true, nil
		}
	}
	return provider.Result{}, false, nil
}
