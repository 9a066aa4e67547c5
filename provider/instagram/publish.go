package instagram

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/meta/graph"
)

// quotaPause is when to look at a spent publishing quota again: the quota
// is counted over a rolling 24 hours and the API does not say when the
// oldest post leaves it, so an hour is a guess that costs one cheap call.
const quotaPause = time.Hour

// Publish publishes post to acct: an image, or a carousel of 2 to 10;
// with AsComment and ReplyTo, a comment on an earlier media. Errors are
// *provider.Error; see the package doc for Unknown.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	v, err := p.publishPost(ctx, acct, post)
	return v, graph.WithoutRefresh(err)
}

func (p *Provider) publishPost(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if post.ReplyTo != nil {
		if !post.AsComment {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "Instagram has no threads; post the follow-up as a comment instead"}
		}
		return p.comment(ctx, api, acct, post)
	}
	if len(post.Media) == 0 {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "an Instagram post needs at least one image"}
	}
	if len(post.Media) > MaxMedia {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("an Instagram carousel takes up to %d images", MaxMedia)}
	}
	if p.mediaURL == nil {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "Herald is not set up to give Instagram public media addresses, so it cannot publish there"}
	}
	if err := p.checkQuota(ctx, api, acct); err != nil {
		return provider.Result{}, err
	}
	var container string
	if len(post.Media) == 1 {
		id, err := p.imageContainer(ctx, api, acct, 0, post.Media[0], url.Values{"caption": {post.Text}})
		if err != nil {
			return provider.Result{}, err
		}
		if err := p.await(ctx, api, acct, id, "preparing media[0]", post.Media[0]); err != nil {
			return provider.Result{}, err
		}
		container = id
	} else {
		children := make([]string, 0, len(post.Media))
		for i, m := range post.Media {
			id, err := p.imageContainer(ctx, api, acct, i, m, url.Values{"is_carousel_item": {"true"}})
			if err != nil {
				return provider.Result{}, err
			}
			children = append(children, id)
		}
		// Instagram fetches and processes the items side by side: make
		// them all, then wait for each.
		for i, id := range children {
			if err := p.await(ctx, api, acct, id, fmt.Sprintf("preparing media[%d]", i), post.Media[i]); err != nil {
				return provider.Result{}, err
			}
		}
		id, err := p.create(ctx, api, acct, "preparing the carousel", url.Values{"media_type": {"CAROUSEL"}, "children": {strings.Join(children, ",")}, "caption": {post.Text}})
		if err != nil {
			return provider.Result{}, err
		}
		if err := p.await(ctx, api, acct, id, "preparing the carousel", provider.Media{}); err != nil {
			return provider.Result{}, err
		}
		container = id
	}
	return p.publish(ctx, api, acct, container, post.Text)
}

func (p *Provider) checkQuota(ctx context.Context, api graph.API, acct provider.Account) error {
	const op = "checking the publishing quota"
	var out struct {
		Data []struct {
			Usage  int `json:"quota_usage"`
			Config struct {
				Total int `json:"quota_total"`
			} `json:"config"`
		} `json:"data"`
	}
	u := api.URL("/"+url.PathEscape(acct.RemoteID)+"/content_publishing_limit", url.Values{"fields": {"quota_usage,config"}})
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &out); err != nil {
		return err
	}
	if len(out.Data) > 0 && out.Data[0].Config.Total > 0 && out.Data[0].Usage >= out.Data[0].Config.Total {
		d := out.Data[0]
		return &provider.Error{Kind: provider.RateLimited, Message: fmt.Sprintf("the account has published %d of the %d posts Instagram allows through its API in 24 hours", d.Usage, d.Config.Total), RetryAfter: p.c.Now().Add(quotaPause)}
	}
	return nil
}

// imageContainer makes a container for media i, an image or a video (a
// reel alone, a VIDEO item in a carousel); Instagram fetches and processes
// it in the background (see await). Alt text goes with images only: the
// API takes none for videos.
func (p *Provider) imageContainer(ctx context.Context, api graph.API, acct provider.Account, i int, m provider.Media, form url.Values) (string, error) {
	op := fmt.Sprintf("preparing media[%d]", i)
	u, err := p.mediaURL(ctx, m)
	if err != nil {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": no public address for the file", Err: err}
	}
	switch {
	case imageRules.IsVideo(m) && form.Get("is_carousel_item") == "true":
		form.Set("media_type", "VIDEO")
		form.Set("video_url", u)
	case imageRules.IsVideo(m):
		form.Set("media_type", "REELS")
		form.Set("video_url", u)
	default:
		form.Set("image_url", u)
		if m.Description != "" {
			form.Set("alt_text", m.Description)
		}
	}
	return p.create(ctx, api, acct, op, form)
}

// containers are Instagram's: made on /{ig-user-id}/media, with their
// state in status_code and, for an ERROR, the reason in status
// ("Error: ...").
var containers = graph.Containers{
	Network:     "Instagram",
	Edge:        "media",
	CodeField:   "status_code",
	ReasonField: "status",
	Refused:     "Instagram refused the file",
	NoReason:    "it could not use the file",
	TextField:   "caption",
	Item:        "media",
}

// create makes a container (see graph.Containers.Create).
func (p *Provider) create(ctx context.Context, api graph.API, acct provider.Account, op string, form url.Values) (string, error) {
	return containers.Create(ctx, p.c, api, acct, op, form)
}

// await polls a container of m (none for a carousel) until it is
// FINISHED (see graph.Containers.Await), longer for a video.
func (p *Provider) await(ctx context.Context, api graph.API, acct provider.Account, id, op string, m provider.Media) error {
	timeout := p.pollTimeout
	if imageRules.IsVideo(m) {
		timeout = p.videoTimeout
	}
	return containers.Await(ctx, p.c, api, acct, id, op, p.pollInterval, timeout)
}

// publish publishes a finished container (see graph.Containers.Publish).
func (p *Provider) publish(ctx context.Context, api graph.API, acct provider.Account, container, caption string) (provider.Result, error) {
	return containers.Publish(ctx, p.c, api, acct, container, caption, "media")
}

// comment comments on an earlier media as the account (text only).
func (p *Provider) comment(ctx context.Context, api graph.API, acct provider.Account, post provider.Post) (provider.Result, error) {
	const op = "commenting on the post"
	target := post.ReplyTo.RemoteID
	if target == "" {
		target = post.ReplyTo.Ref
	}
	switch {
	case target == "":
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": there is no post to comment on"}
	case len(post.Media) > 0:
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": Instagram comments take text only"}
	case strings.TrimSpace(post.Text) == "":
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: op + ": the comment is empty"}
	}
	var out struct {
		ID string `json:"id"`
	}
	err := p.c.Do(ctx, graph.Call{Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(target)+"/comments", nil), Token: acct.AccessToken,
		Form: url.Values{"message": {post.Text}}, RateKey: graph.AccountKey(acct), Op: op, Effect: true}, &out)
	if err != nil {
		return provider.Result{}, err
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no comment id"}
	}
	return provider.Result{RemoteID: out.ID, Ref: out.ID}, nil
}
