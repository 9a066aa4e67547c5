package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

// OAuth is one Meta app's OAuth 2.0 authorization-code flow: the Facebook
// Login dialog for Facebook and Instagram, the Threads authorization window
// for Threads.
type OAuth struct {
	// AuthURL is the dialog ("https://www.facebook.com/v24.0/dialog/oauth",
	// "https://threads.net/oauth/authorize"); TokenURL exchanges the code.
	AuthURL  string
	TokenURL string
	// ClientID and ClientSecret are the Meta app's id and secret (for
	// Threads, the Threads app id and secret).
	ClientID     string
	ClientSecret string
	// RedirectURL must be one of the app's valid OAuth redirect URIs.
	RedirectURL string
	Scopes      []string
}

func (o OAuth) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		RedirectURL:  o.RedirectURL,
		Endpoint:     oauth2.Endpoint{AuthURL: o.AuthURL, TokenURL: o.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

func (o OAuth) check() error {
	var v errs.Fields
	if o.ClientID == "" || o.ClientSecret == "" {
		v.Add("app", "Herald's Meta app id and secret are not configured")
	}
	u, err := url.Parse(o.RedirectURL)
	if o.RedirectURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.Add("redirect_uri", "must be an absolute http(s) address")
	}
	return v.Err()
}

// AuthorizeURL is where to send the user's browser. state must be random
// and tied to the user's session; Meta returns it unchanged with the code.
// Scopes are sent comma-separated, as Meta documents them.
func (o OAuth) AuthorizeURL(state string, extra ...oauth2.AuthCodeOption) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	if state == "" {
		var v errs.Fields
		v.Add("state", "must not be empty")
		return "", v.Err()
	}
	opts := append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", strings.Join(o.Scopes, ","))}, extra...)
	return o.config().AuthCodeURL(state, opts...), nil
}

// Token is an access token and when it expires (zero: never, or not said).
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
	// UserID is the account the token is for, when the exchange says so
	// as a string.
	UserID string
}

// ExchangeCode turns the code Meta sent back into a token. Errors are errs
// errors: a bad or used code is an Invalid error on "code".
func (c *Client) ExchangeCode(ctx context.Context, o OAuth, code string) (Token, error) {
	if err := o.check(); err != nil {
		return Token{}, err
	}
	code = strings.TrimSpace(code)
	if code == "" {
		var v errs.Fields
		v.Add("code", "must not be empty")
		return Token{}, v.Err()
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	t, err := o.config().Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			ge := DecodeError(re.Body)
			switch {
			case re.Response.StatusCode >= 500:
				return Token{}, errs.Wrap(err, errs.Unavailable, "Meta is having trouble; try connecting again later")
			case ge != nil && ge.Code == CodeInvalidParameter, re.ErrorCode == "invalid_grant":
				var v errs.Fields
				v.Add("code", "is invalid or has expired; connect the account again")
				return Token{}, v.Err()
			case ge != nil && (ge.Code == 101 || ge.Code == 1 && strings.Contains(ge.Message, "client")):
				return Token{}, errs.Wrap(err, errs.Forbidden, "Meta does not recognise Herald's app id or secret")
			}
			return Token{}, errs.Wrap(err, errs.Invalid, "Meta refused the authorization: "+messageOf(ge, re.Response.Status))
		}
		return Token{}, errs.Wrap(redact(err), errs.Unavailable, "could not reach Meta; try again later")
	}
	tok := Token{AccessToken: t.AccessToken, ExpiresAt: t.Expiry}
	// Threads sends user_id as a JSON number, which x/oauth2 decodes into
	// a float64 that cannot hold a 17-digit id exactly: only a string is
	// taken; callers ask /me for the id.
	if id, ok := t.Extra("user_id").(string); ok {
		tok.UserID = id
	}
	return tok, nil
}

func messageOf(ge *APIError, fallback string) string {
	if ge != nil && ge.Message != "" {
		return short(ge.Message)
	}
	return fallback
}

// tokenAnswer is Meta's token response body.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// GetToken calls a token endpoint by GET with q (Facebook's
// fb_exchange_token, Threads' th_exchange_token and th_refresh_token) and
// returns the token it gives. Errors are *provider.Error. The query holds
// secrets, so neither it nor the URL appears in errors.
func (c *Client) GetToken(ctx context.Context, u, op string) (Token, error) {
	var out tokenAnswer
	if err := c.Do(ctx, Call{Method: http.MethodGet, URL: u, Op: op}, &out); err != nil {
		return Token{}, err
	}
	if out.AccessToken == "" {
		return Token{}, &provider.Error{Kind: provider.Retry, Message: op + ": Meta's answer had no access token"}
	}
	t := Token{AccessToken: out.AccessToken}
	if out.ExpiresIn > 0 {
		t.ExpiresAt = c.now().Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	return t, nil
}

// ConnectError turns a provider error from a connect step into an errs
// error for the form that started it.
func ConnectError(err error) error {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Kind {
	case provider.Disconnected, provider.Expired:
		return errs.Wrap(err, errs.Forbidden, pe.Message)
	case provider.RateLimited:
		return errs.Wrap(err, errs.RateLimited, pe.Message)
	case provider.BadContent:
		return errs.Wrap(err, errs.Invalid, pe.Message)
	}
	return errs.Wrap(err, errs.Unavailable, pe.Message)
}
