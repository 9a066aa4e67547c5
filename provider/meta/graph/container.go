package graph

import (
	"context"
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
