package linkedin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

func checkAccount(acct provider.Account) *provider.Error {
	switch {
	case acct.AccessToken == "":
		return &provider.Error{Kind: provider.Disconnected, Message: "the account has no access token; reconnect the account"}
	case !strings.HasPrefix(acct.RemoteID, "urn:li:person:") && !strings.HasPrefix(acct.RemoteID, "urn:li:organization:"):
		return &provider.Error{Kind: provider.Disconnected, Message: "the account has no LinkedIn member or organization URN; reconnect the account"}
	}
	return nil
}

type mediaRef struct {
	ID      string `json:"id"`
	AltText string `json:"altText,omitempty"`
}

type postBody struct {
	Author       string `json:"author"`
	Commentary   string `json:"commentary"`
	Visibility   string `json:"visibility"`
	Distribution struct {
		FeedDistribution               string   `json:"feedDistribution"`
		TargetEntities                 []any    `json:"targetEntities"`
		ThirdPartyDistributionChannels []string `json:"thirdPartyDistributionChannels"`
	} `json:"distribution"`
	Content *struct {
		Media      *mediaRef `json:"media,omitempty"`
		MultiImage *struct {
			Images []mediaRef `json:"images"`
		} `json:"multiImage,omitempty"`
	} `json:"content,omitempty"`
	LifecycleState            string `json:"lifecycleState"`
	IsReshareDisabledByAuthor bool   `json:"isReshareDisabledByAuthor"`
}

// Publish uploads p's images and creates a public post as acct.RemoteID,
// with the text escaped for the little format; with AsComment and
// ReplyTo, it comments on that post instead (see comment). LinkedIn has
// no threads: a post that replies to another is refused as BadContent.
// Errors are *provider.Error; only a post or comment request that went out
// without an answer is Unknown.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	const op = "posting to LinkedIn"
	if perr := checkAccount(acct); perr != nil {
		return provider.Result{}, perr
	}
	if post.ReplyTo != nil {
		if !post.AsComment {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": LinkedIn posts cannot be threads; post the follow-up as a comment instead"}
		}
		return p.comment(ctx, acct, post)
	}
	base := baseURL(acct)
	refs := make([]mediaRef, 0, len(post.Media))
	if len(post.Media) > 1 && slices.ContainsFunc(post.Media, isVideo) {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": a LinkedIn post takes one video alone"}
	}
	for i, m := range post.Media {
		if isVideo(m) {
			urn, err := p.uploadVideo(ctx, base, acct, m)
			if err != nil {
				return provider.Result{}, err
			}
			refs = append(refs, mediaRef{ID: urn})
			continue
		}
		urn, err := p.uploadImage(ctx, base, acct, i, m)
		if err != nil {
			return provider.Result{}, err
		}
		refs = append(refs, mediaRef{ID: urn, AltText: m.Description})
	}
	body := postBody{Author: acct.RemoteID, Commentary: EscapeCommentary(post.Text), Visibility: "PUBLIC", LifecycleState: "PUBLISHED"}
	body.Distribution.FeedDistribution = "MAIN_FEED"
	body.Distribution.TargetEntities = []any{}
	body.Distribution.ThirdPartyDistributionChannels = []string{}
	switch {
	case len(refs) == 1:
		body.Content = &struct {
			Media      *mediaRef `json:"media,omitempty"`
			MultiImage *struct {
				Images []mediaRef `json:"images"`
			} `json:"multiImage,omitempty"`
		}{Media: &refs[0]}
	case len(refs) > 1:
		body.Content = &struct {
			Media      *mediaRef `json:"media,omitempty"`
			MultiImage *struct {
				Images []mediaRef `json:"images"`
			} `json:"multiImage,omitempty"`
		}{MultiImage: &struct {
			Images []mediaRef `json:"images"`
		}{refs}}
	}
	b, _ := json.Marshal(body)
	req, perr := p.request(ctx, http.MethodPost, base+"/rest/posts", bytes.NewReader(b), op)
	if perr != nil {
		return provider.Result{}, perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return provider.Result{}, httpcall.TransportError(err, ex, op, "LinkedIn", true)
	}
	if ex.Res.StatusCode != http.StatusCreated {
		return provider.Result{}, p.statusError(acct, ex, op)
	}
	urn := ex.Res.Header.Get("x-restli-id")
	if urn == "" {
		// LinkedIn said it created the post but not which: it exists, so
		// this is not a blind retry either.
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": LinkedIn created the post without saying its id", Status: ex.Res.StatusCode}
	}
	return provider.Result{RemoteID: urn, RemoteURL: "https://www.linkedin.com/feed/update/" + urn + "/", Ref: urn}, nil
}

// MaxCommentChars is the longest comment LinkedIn takes.
const MaxCommentChars = 1250

type commentBody struct {
	Actor   string `json:"actor"`
	Object  string `json:"object"`
	Message struct {
		Text string `json:"text"`
	} `json:"message"`
	Content []commentContent `json:"content,omitempty"`
}

type commentContent struct {
	Entity struct {
		Image string `json:"image"`
	} `json:"entity"`
}

// comment posts post.Text, with at most one image, as acct's comment on
// post.ReplyTo (POST /rest/socialActions/{urn}/comments, versioned like
// the Posts API). The comment's URN is the result. A comment's text is
// plain: the little format is for a post's commentary only.
func (p *Provider) comment(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	const op = "commenting on the post"
	target := post.ReplyTo.RemoteID
	if target == "" {
		target = post.ReplyTo.Ref
	}
	switch {
	case !strings.HasPrefix(target, "urn:li:"):
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the post to comment on has no LinkedIn URN"}
	case strings.TrimSpace(post.Text) == "":
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": a LinkedIn comment needs text"}
	case utf8.RuneCountInString(post.Text) > MaxCommentChars:
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("%s: a LinkedIn comment takes up to %d characters", op, MaxCommentChars)}
	case len(post.Media) > 1:
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": a LinkedIn comment takes at most one image"}
	}
	base := baseURL(acct)
	body := commentBody{Actor: acct.RemoteID, Object: target}
	body.Message.Text = post.Text
	if len(post.Media) == 1 {
		urn, err := p.uploadImage(ctx, base, acct, 0, post.Media[0])
		if err != nil {
			return provider.Result{}, err
		}
		var c commentContent
		c.Entity.Image = urn
		body.Content = []commentContent{c}
	}
	b, _ := json.Marshal(body)
	req, perr := p.request(ctx, http.MethodPost, base+"/rest/socialActions/"+url.PathEscape(target)+"/comments", bytes.NewReader(b), op)
	if perr != nil {
		return provider.Result{}, perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return provider.Result{}, httpcall.TransportError(err, ex, op, "LinkedIn", true)
	}
	if ex.Res.StatusCode == http.StatusNotFound {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Status: ex.Res.StatusCode, Message: op + ": the post is gone from LinkedIn"}
	}
	if ex.Res.StatusCode != http.StatusCreated && ex.Res.StatusCode != http.StatusOK {
		return provider.Result{}, p.statusError(acct, ex, op)
	}
	urn := ex.Res.Header.Get("x-restli-id")
	if urn == "" {
		var out struct {
			URN string `json:"$URN"`
		}
		_ = json.Unmarshal(ex.Body, &out)
		urn = out.URN
	}
	if urn == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": LinkedIn created the comment without saying its id", Status: ex.Res.StatusCode}
	}
	return provider.Result{RemoteID: urn, RemoteURL: "https://www.linkedin.com/feed/update/" + target + "/?commentUrn=" + url.QueryEscape(urn), Ref: urn}, nil
}

// uploadImage registers an image upload for the author, puts the bytes to
// the URL LinkedIn answers, and returns the image URN.
func (p *Provider) uploadImage(ctx context.Context, base string, acct provider.Account, i int, m provider.Media) (string, error) {
	op := fmt.Sprintf("uploading media[%d]", i)
	if m.Open == nil || m.Size <= 0 {
		return "", &provider.Error{Kind: provider.BadContent, Message: op + ": the attachment has no content"}
	}
	init, _ := json.Marshal(map[string]any{"initializeUploadRequest": map[string]string{"owner": acct.RemoteID}})
	req, perr := p.request(ctx, http.MethodPost, base+"/rest/images?action=initializeUpload", bytes.NewReader(init), op)
	if perr != nil {
		return "", perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return "", httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return "", p.statusError(acct, ex, op)
	}
	var out struct {
		Value struct {
			UploadURL string `json:"uploadUrl"`
			Image     string `json:"image"`
		} `json:"value"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil || out.Value.Image == "" || out.Value.UploadURL == "" {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's answer could not be read", Err: err}
	}
	if u, err := url.Parse(out.Value.UploadURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn gave an upload address Herald cannot use"}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": the attachment could not be read", Err: err}
	}
	defer rc.Close()
	put, perr := httpcall.NewRequest(ctx, http.MethodPut, out.Value.UploadURL, rc, op)
	if perr != nil {
		return "", perr
	}
	put.ContentLength = m.Size
	put.Header.Set("Content-Type", "application/octet-stream")
	ex, err = httpcall.DoBearer(p.client, put, acct.AccessToken)
	if err != nil {
		return "", httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	if ex.Res.StatusCode != http.StatusCreated && ex.Res.StatusCode != http.StatusOK {
		return "", p.statusError(acct, ex, op)
	}
	return out.Value.Image, nil
}

// Delete deletes a published post (DELETE /rest/posts/{urn}). A post that
// is already gone counts as deleted.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	const op = "deleting the post"
	if perr := checkAccount(acct); perr != nil {
		return perr
	}
	if !strings.HasPrefix(res.RemoteID, "urn:li:") {
		return &provider.Error{Kind: provider.BadContent, Message: op + ": the post has no LinkedIn URN"}
	}
	req, perr := p.request(ctx, http.MethodDelete, baseURL(acct)+"/rest/posts/"+url.PathEscape(res.RemoteID), nil, op)
	if perr != nil {
		return perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	switch ex.Res.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusGone:
		return nil
	}
	return p.statusError(acct, ex, op)
}

// VerifyCredentials asks LinkedIn whose token acct holds (OpenID
// Connect's GET /v2/userinfo). Profile.RemoteID is the member's URN
// ("urn:li:person:" + sub), to keep as Account.RemoteID when posting as
// the member. LinkedIn has no handles: Handle is the member's name.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	const op = "checking the account"
	if acct.AccessToken == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: "the account has no access token; reconnect the account"}
	}
	req, perr := httpcall.NewRequest(ctx, http.MethodGet, baseURL(acct)+"/v2/userinfo", nil, op)
	if perr != nil {
		return provider.Profile{}, perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return provider.Profile{}, httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return provider.Profile{}, p.statusError(acct, ex, op)
	}
	var out struct {
		Sub  string `json:"sub"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil || out.Sub == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's answer could not be read", Err: err}
	}
	return provider.Profile{RemoteID: "urn:li:person:" + out.Sub, Handle: out.Name, DisplayName: out.Name}, nil
}
