package graph

import (
	"context"
	"net/http"
	"net/url"

	"github.com/heraldhq/herald/provider"
)

// Page is a Facebook Page the user manages, with its Page access token and
// the Instagram professional account linked to it, if any.
type Page struct {
	ID          string
	Name        string
	AccessToken string
	// Tasks are what the user may do on the page ("CREATE_CONTENT", ...).
	Tasks []string
	// InstagramID and InstagramUsername are the linked Instagram
	// professional account; empty when there is none.
	InstagramID       string
	InstagramUsername string
}

// CanPublish reports whether the user may post as the page (the
// CREATE_CONTENT or MANAGE task); Portal should offer only such pages.
func (p Page) CanPublish() bool {
	for _, t := range p.Tasks {
		if t == "CREATE_CONTENT" || t == "MANAGE" {
			return true
		}
	}
	return len(p.Tasks) == 0 && p.AccessToken != ""
}

type pageJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	AccessToken string   `json:"access_token"`
	Tasks       []string `json:"tasks"`
	IG          *struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"instagram_business_account"`
}

// maxPages stops a runaway paging loop; nobody manages this many pages
// through one login.
const maxPages = 50

// Pages lists the pages userToken's user manages (GET /me/accounts,
// following the cursor), each with a Page access token. With a long-lived
// user token, the page tokens do not expire. Errors are *provider.Error.
func (c *Client) Pages(ctx context.Context, api API, userToken string) ([]Page, error) {
	const op = "listing your Facebook pages"
	q := url.Values{"fields": {"id,name,access_token,tasks,instagram_business_account{id,username}"}, "limit": {"100"}}
	var out []Page
	for range maxPages {
		var res struct {
			Data   []pageJSON `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := c.Do(ctx, Call{Method: http.MethodGet, URL: api.URL("/me/accounts", q), Token: userToken, Op: op}, &res); err != nil {
			return nil, err
		}
		for _, p := range res.Data {
			pg := Page{ID: p.ID, Name: p.Name, AccessToken: p.AccessToken, Tasks: p.Tasks}
			if p.IG != nil {
				pg.InstagramID, pg.InstagramUsername = p.IG.ID, p.IG.Username
			}
			out = append(out, pg)
		}
		if res.Paging.Next == "" || res.Paging.Cursors.After == "" {
			return out, nil
		}
		q.Set("after", res.Paging.Cursors.After)
	}
	return out, &provider.Error{Kind: provider.Retry, Message: op + ": too many pages to list"}
}
