package threads

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

// Publish publishes post to acct: text, an image, or a carousel; with
// ReplyTo, as a reply to that post (a thread's next part, or a first
// comment). Errors are *provider.Error; see the package doc for Unknown.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	api, perr := p.account(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if len(post.Media) > MaxMedia {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("a Threads post takes up to %d images", MaxMedia)}
	}
	if len(post.Media) > 0 && p.mediaURL == nil {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "Herald is not set up to give Threads public media addresses, so it cannot post images there"}
	}
	if err := p.checkQuota(ctx, api, acct, post.ReplyTo != nil); err != nil {
		return provider.Result{}, err
	}
	form := url.Values{"text": {post.Text}}
	if post.ReplyTo != nil {
		id := post.ReplyTo.RemoteID
		if id == "" {
			id = post.ReplyTo.Ref
		}
		if id == "" {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "replying on Threads: there is no post to reply to"}
		}
		form.Set("reply_to_id", id)
	}
	const op = "preparing the post"
	switch len(post.Media) {
	case 0:
		form.Set("media_type", "TEXT")
	case 1:
		if err := p.image(ctx, post.Media[0], 0, form); err != nil {
			return provider.Result{}, err
		}
		id, err := p.create(ctx, api, acct, op, form)
		if err != nil {
			return provider.Result{}, err
		}
		if err := p.await(ctx, api, acct, id, op, p.timeoutFor(post.Media[0])); err != nil {
			return provider.Result{}, err
		}
		return p.publish(ctx, api, acct, id, post.Text, post.ReplyTo != nil)
	default:
		children := make([]string, 0, len(post.Media))
		for i, m := range post.Media {
			item := url.Values{"is_carousel_item": {"true"}}
			if err := p.image(ctx, m, i, item); err != nil {
				return provider.Result{}, err
			}
			id, err := p.create(ctx, api, acct, fmt.Sprintf("preparing media[%d]", i), item)
			if err != nil {
				return provider.Result{}, err
			}
			children = append(children, id)
		}
		// Threads fetches the items side by side: make them all, then
		// wait for each.
		for i, id := range children {
			if err := p.await(ctx, api, acct, id, fmt.Sprintf("preparing media[%d]", i), p.timeoutFor(post.Media[i])); err != nil {
				return provider.Result{}, err
			}
		}
		form.Set("media_type", "CAROUSEL")
		form.Set("children", strings.Join(children, ","))
	}
	id, err := p.container(ctx, api, acct, op, form)
	if err != nil {
		return provider.Result{}, err
	}
	return p.publish(ctx, api, acct, id, post.Text, post.ReplyTo != nil)
}

// image sets form for media i: an IMAGE (image_url) or a VIDEO
// (video_url), with its alt text (Threads takes it on both).
func (p *Provider) image(ctx context.Context, m provider.Media, i int, form url.Values) error {
	u, err := p.mediaURL(ctx, m)
	if err != nil {
		return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("preparing media[%d]: no public address for the file", i), Err: err}
	}
	if imageRules.IsVideo(m) {
		form.Set("media_type", "VIDEO")
		form.Set("video_url", u)
	} else {
		form.Set("media_type", "IMAGE")
		form.Set("image_url", u)
	}
	if m.Description != "" {
		form.Set("alt_text", m.Description)
	}
	return nil
}

type quotaConfig struct {
	Total int `json:"quota_total"`
}

// checkQuota reads the profile's 24-hour quota of posts (250) or, for a
// reply, of replies (1,000), and refuses as RateLimited when it is spent.
func (p *Provider) checkQuota(ctx context.Context, api graph.API, acct provider.Account, reply bool) error {
	const op = "checking the publishing quota"
	var out struct {
		Data []struct {
			Usage       int         `json:"quota_usage"`
			Config      quotaConfig `json:"config"`
			ReplyUsage  int         `json:"reply_quota_usage"`
			ReplyConfig quotaConfig `json:"reply_config"`
		} `json:"data"`
	}
	fields, what := "quota_usage,config", "posts"
	if reply {
		fields, what = "reply_quota_usage,reply_config", "replies"
	}
	u := api.URL("/"+url.PathEscape(acct.RemoteID)+"/threads_publishing_limit", url.Values{"fields": {fields}})
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &out); err != nil {
		return err
	}
	if len(out.Data) == 0 {
		return nil
	}
	used, total := out.Data[0].Usage, out.Data[0].Config.Total
	if reply {
		used, total = out.Data[0].ReplyUsage, out.Data[0].ReplyConfig.Total
	}
	if total > 0 && used >= total {
		return &provider.Error{Kind: provider.RateLimited, Message: fmt.Sprintf("the profile has published %d of the %d %s Threads allows through its API in 24 hours", used, total, what), RetryAfter: p.c.Now().Add(quotaPause)}
	}
	return nil
}

// container makes a container and waits until it is FINISHED.
func (p *Provider) container(ctx context.Context, api graph.API, acct provider.Account, op string, form url.Values) (string, error) {
	id, err := p.create(ctx, api, acct, op, form)
	if err != nil {
		return "", err
	}
	return id, p.await(ctx, api, acct, id, op, p.pollTimeout)
}

// timeoutFor is how long to wait for m's container: longer for a video,
// which Threads transcodes.
func (p *Provider) timeoutFor(m provider.Media) time.Duration {
	if imageRules.IsVideo(m) {
		return p.videoTimeout
	}
	return p.pollTimeout
}

// containers are Threads': made on /{threads-user-id}/threads, with
// their state in status and, for an ERROR, the reason in error_message.
var containers = graph.Containers{
	Network:     "Threads",
	Edge:        "threads",
	CodeField:   "status",
	ReasonField: "error_message",
	Refused:     "Threads refused it",
	NoReason:    "it could not use the media",
	TextField:   "text",
	Item:        "post",
}

// create makes a container (see graph.Containers.Create).
func (p *Provider) create(ctx context.Context, api graph.API, acct provider.Account, op string, form url.Values) (string, error) {
	return containers.Create(ctx, p.c, api, acct, op, form)
}

// await polls a container until it is FINISHED, for at most timeout (see
// graph.Containers.Await).
func (p *Provider) await(ctx context.Context, api graph.API, acct provider.Account, id, op string, timeout time.Duration) error {
	return containers.Await(ctx, p.c, api, acct, id, op, p.pollInterval, timeout)
}

// publish publishes a finished container (see graph.Containers.Publish);
// a lost answer is looked for among the profile's posts or replies.
func (p *Provider) publish(ctx context.Context, api graph.API, acct provider.Account, container, text string, reply bool) (provider.Result, error) {
	edge := "threads"
	if reply {
		edge = "replies"
	}
	return containers.Publish(ctx, p.c, api, acct, container, text, edge)
}
