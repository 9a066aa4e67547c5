package threads

import (
	"context"
	"errors"
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
			if err := p.await(ctx, api, acct, id, fmt.Sprintf("preparing media[%d]", i)); err != nil {
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

func (p *Provider) image(ctx context.Context, m provider.Media, i int, form url.Values) error {
	u, err := p.mediaURL(ctx, m)
	if err != nil {
		return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("preparing media[%d]: no public address for the image", i), Err: err}
	}
	form.Set("media_type", "IMAGE")
	form.Set("image_url", u)
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
	return id, p.await(ctx, api, acct, id, op)
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
}

// create makes a container (see graph.Containers.Create).
func (p *Provider) create(ctx context.Context, api graph.API, acct provider.Account, op string, form url.Values) (string, error) {
	return containers.Create(ctx, p.c, api, acct, op, form)
}

// await polls a container until it is FINISHED (see
// graph.Containers.Await).
func (p *Provider) await(ctx context.Context, api graph.API, acct provider.Account, id, op string) error {
	return containers.Await(ctx, p.c, api, acct, id, op, p.pollInterval, p.pollTimeout)
}

func (p *Provider) publish(ctx context.Context, api graph.API, acct provider.Account, container, text string, reply bool) (provider.Result, error) {
	const op = "publishing the post"
	var out struct {
		ID string `json:"id"`
	}
	started := p.c.Now()
	err := p.c.Do(ctx, graph.Call{Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(acct.RemoteID)+"/threads_publish", nil), Token: acct.AccessToken,
		Form: url.Values{"creation_id": {container}}, RateKey: graph.AccountKey(acct), Op: op, Effect: true}, &out)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Kind == provider.Unknown {
			return p.settle(ctx, api, acct, container, text, reply, started, pe)
		}
		return provider.Result{}, err
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no post id"}
	}
	var link struct {
		Permalink string `json:"permalink"`
	}
	// Published whatever happens here: a failure only leaves the URL empty.
	_ = p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: api.URL("/"+url.PathEscape(out.ID), url.Values{"fields": {"permalink"}}), Token: acct.AccessToken, Op: "reading the post's address"}, &link)
	return provider.Result{RemoteID: out.ID, RemoteURL: link.Permalink, Ref: out.ID}, nil
}

// settle looks into a threads_publish whose answer was lost, in the same
// Publish call: only when the container's status is PUBLISHED does it
// take the profile's newest post (or reply) with the same text, published
// since the request. Otherwise the outcome stays Unknown.
func (p *Provider) settle(ctx context.Context, api graph.API, acct provider.Account, container, text string, reply bool, started time.Time, lost *provider.Error) (provider.Result, error) {
	const op = "checking whether the post was published"
	var st struct {
		Status string `json:"status"`
	}
	u := api.URL("/"+url.PathEscape(container), url.Values{"fields": {"status"}})
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &st); err != nil || st.Status != "PUBLISHED" {
		return provider.Result{}, lost
	}
	edge := "/threads"
	if reply {
		edge = "/replies"
	}
	var list struct {
		Data []struct {
			ID        string `json:"id"`
			Text      string `json:"text"`
			Permalink string `json:"permalink"`
			Timestamp string `json:"timestamp"`
		} `json:"data"`
	}
	u = api.URL("/"+url.PathEscape(acct.RemoteID)+edge, url.Values{"fields": {"id,text,permalink,timestamp"}, "limit": {"10"}})
	if err := p.c.Do(ctx, graph.Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: graph.AccountKey(acct), Op: op}, &list); err == nil {
		for _, m := range list.Data {
			ts, err := time.Parse("2006-01-02T15:04:05-0700", m.Timestamp)
			if err == nil && m.Text == text && m.ID != "" && !ts.Before(started.Add(-time.Minute).Truncate(time.Second)) {
				return provider.Result{RemoteID: m.ID, RemoteURL: m.Permalink, Ref: m.ID}, nil
			}
		}
	}
	c := *lost
	c.Message = "publishing the post: the answer was lost, and Threads shows it as published but Herald could not find it; check the profile before posting again"
	return provider.Result{}, &c
}
