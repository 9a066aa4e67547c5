package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/provider"
)

// Instagram and Threads publish in the same steps: a container is made
// for each image (and one for the carousel or the text), the network
// fetches and processes it in the background while Herald polls its
// status, and a finished container is then published. A Containers value
// names what differs between them.

// Containers describes one network's containers.
type Containers struct {
	// Network names the network in messages ("Instagram").
	Network string
	// Edge is where containers are made: POST /{user-id}/{Edge}.
	Edge string
	// CodeField is the container field holding its state (IN_PROGRESS,
	// FINISHED, PUBLISHED, ERROR, EXPIRED); ReasonField the one saying why
	// it is in ERROR (a leading "Error:" is dropped).
	CodeField, ReasonField string
	// Refused starts the message for a container in ERROR ("Instagram
	// refused the image"); NoReason stands for the reason when the
	// network gives none.
	Refused, NoReason string
	// TextField is the field of a published item holding its text
	// ("caption", "text"), Item what an item is called in messages
	// ("media", "post").
	TextField, Item string
}

// Create makes a container with form and returns its id. Containers are
// not public, so a lost answer is only Retry.
func (k Containers) Create(ctx context.Context, c *Client, api API, acct provider.Account, op string, form url.Values) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.Do(ctx, Call{Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(acct.RemoteID)+"/"+k.Edge, nil), Token: acct.AccessToken, Form: form, RateKey: AccountKey(acct), Op: op}, &out)
	if err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no container id"}
	}
	return out.ID, nil
}

// Await polls container id every interval until it is FINISHED (or
// already PUBLISHED). A refused container is BadContent; an expired one,
// one still in progress after timeout, or a cancelled ctx is Retry
// (nothing is public yet); a failing status call's error is returned as
// is.
func (k Containers) Await(ctx context.Context, c *Client, api API, acct provider.Account, id, op string, interval, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	u := api.URL("/"+url.PathEscape(id), url.Values{"fields": {k.CodeField + "," + k.ReasonField}})
	for {
		var out map[string]any
		if err := c.Do(ctx, Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: AccountKey(acct), Op: op}, &out); err != nil {
			return err
		}
		code, _ := out[k.CodeField].(string)
		switch code {
		case "FINISHED", "PUBLISHED":
			return nil
		case "ERROR":
			why, _ := out[k.ReasonField].(string)
			why = strings.TrimSpace(strings.TrimPrefix(why, "Error:"))
			if why == "" {
				why = k.NoReason
			}
			return &provider.Error{Kind: provider.BadContent, Message: op + ": " + k.Refused + ": " + why}
		case "EXPIRED":
			return &provider.Error{Kind: provider.Retry, Message: op + ": the container expired before it was published"}
		}
		if time.Now().After(deadline) {
			return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: %s was still processing it after %s", op, k.Network, timeout)}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return &provider.Error{Kind: provider.Retry, Message: op + ": stopped while " + k.Network + " was processing it", Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// Publish publishes a finished container (POST /{user-id}/{Edge}_publish),
// the one step that makes the post public, and reads its address. When
// the answer is lost, it settles the outcome at once: see settle, which
// looks for the post on the account's listEdge ("media", "threads",
// "replies").
func (k Containers) Publish(ctx context.Context, c *Client, api API, acct provider.Account, container, text, listEdge string) (provider.Result, error) {
	const op = "publishing the post"
	var out struct {
		ID string `json:"id"`
	}
	started := c.Now()
	err := c.Do(ctx, Call{Method: http.MethodPost, URL: api.URL("/"+url.PathEscape(acct.RemoteID)+"/"+k.Edge+"_publish", nil), Token: acct.AccessToken,
		Form: url.Values{"creation_id": {container}}, RateKey: AccountKey(acct), Op: op, Effect: true}, &out)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Kind == provider.Unknown {
			return k.settle(ctx, c, api, acct, container, text, listEdge, started, pe)
		}
		return provider.Result{}, err
	}
	if out.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: op + ": Meta's answer had no " + k.Item + " id"}
	}
	return provider.Result{RemoteID: out.ID, RemoteURL: Permalink(ctx, c, api, acct, out.ID), Ref: out.ID}, nil
}

// Permalink asks for an item's public address; the item is published
// whatever happens here, so a failure only leaves the URL empty.
func Permalink(ctx context.Context, c *Client, api API, acct provider.Account, id string) string {
	var out struct {
		Permalink string `json:"permalink"`
	}
	_ = c.Do(ctx, Call{Method: http.MethodGet, URL: api.URL("/"+url.PathEscape(id), url.Values{"fields": {"permalink"}}), Token: acct.AccessToken, Op: "reading the post's address"}, &out)
	return out.Permalink
}

// settle looks into a publish whose answer was lost, in the same Publish
// call. Only when the container says PUBLISHED does it look for the post
// among the account's newest on listEdge (same text, published since the
// request), and returns it; otherwise the outcome stays Unknown (lost),
// with what the network said. This is best-effort: it needs the container
// id, which does not outlive the call.
func (k Containers) settle(ctx context.Context, c *Client, api API, acct provider.Account, container, text, listEdge string, started time.Time, lost *provider.Error) (provider.Result, error) {
	const op = "checking whether the post was published"
	var st map[string]any
	u := api.URL("/"+url.PathEscape(container), url.Values{"fields": {k.CodeField}})
	if err := c.Do(ctx, Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: AccountKey(acct), Op: op}, &st); err != nil || st[k.CodeField] != "PUBLISHED" {
		return provider.Result{}, lost
	}
	var list struct {
		Data []map[string]any `json:"data"`
	}
	u = api.URL("/"+url.PathEscape(acct.RemoteID)+"/"+listEdge, url.Values{"fields": {"id," + k.TextField + ",permalink,timestamp"}, "limit": {"10"}})
	if err := c.Do(ctx, Call{Method: http.MethodGet, URL: u, Token: acct.AccessToken, RateKey: AccountKey(acct), Op: op}, &list); err == nil {
		for _, m := range list.Data {
			id, _ := m["id"].(string)
			body, _ := m[k.TextField].(string)
			link, _ := m["permalink"].(string)
			stamp, _ := m["timestamp"].(string)
			ts, err := time.Parse("2006-01-02T15:04:05-0700", stamp)
			if err == nil && body == text && id != "" && !ts.Before(started.Add(-time.Minute).Truncate(time.Second)) {
				return provider.Result{RemoteID: id, RemoteURL: link, Ref: id}, nil
			}
		}
	}
	l := *lost
	l.Message = "publishing the post: the answer was lost, and " + k.Network + " shows it as published but Herald could not find it; check the profile before posting again"
	return provider.Result{}, &l
}
