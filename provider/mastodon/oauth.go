package mastodon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
)

// Connecting an account takes three steps, each a function here:
//
//  1. RegisterApp registers Herald on the instance, once per instance;
//     keep the App (its secret encrypted) and reuse it for every account
//     of that instance.
//  2. AuthorizeURL is where to send the user's browser, with a random
//     state tied to their session.
//  3. The instance sends the browser back to the redirect URI with code
//     and state; after checking state, ExchangeCode turns the code into an
//     access token. VerifyCredentials then says whose account it is.
//
// These are called from forms, so their errors are errs errors: bad input
// names its field ("instance_url", "redirect_uri", "code"), an unreachable
// instance is Unavailable.

// OutOfBand is the redirect URI for an app that has no callback: the
// instance shows the code for the user to copy.
const OutOfBand = "urn:ietf:wg:oauth:2.0:oob"

// AppConfig describes Herald to an instance.
type AppConfig struct {
	// ClientName is shown on the instance's consent page ("Herald").
	ClientName string
	// RedirectURI is where the instance sends the user back with a code:
	// an absolute http(s) URL, or OutOfBand.
	RedirectURI string
	// Website is optional, shown with the name.
	Website string
	// Scopes default to Scopes.
	Scopes string
}

// App is Herald registered as an OAuth application on one instance.
type App struct {
	InstanceURL  string
	ClientID     string
	ClientSecret string
	RedirectURI  string
	Scopes       string
}

// Token is an account's access token, with its renewal where the instance
// issues one (see Refresh).
type Token struct {
	AccessToken string
	Scope       string
	CreatedAt   time.Time
	// RefreshToken and ExpiresAt are set only by an instance that expires
	// its access tokens; stock Mastodon does not.
	RefreshToken string
	ExpiresAt    time.Time
}

// RegisterApp registers Herald as an application on the instance at
// instanceURL (POST /api/v1/apps).
func (p *Provider) RegisterApp(ctx context.Context, instanceURL string, cfg AppConfig) (App, error) {
	var v errs.Fields
	base, problem := parseInstanceURL(instanceURL)
	if problem != "" {
		v.Add("instance_url", "%s", problem)
	}
	if strings.TrimSpace(cfg.ClientName) == "" {
		v.Add("client_name", "must not be empty")
	}
	if problem := checkRedirectURI(cfg.RedirectURI); problem != "" {
		v.Add("redirect_uri", "%s", problem)
	}
	if err := v.Err(); err != nil {
		return App{}, err
	}
	scopes := strings.Join(strings.Fields(cfg.Scopes), " ")
	if scopes == "" {
		scopes = Scopes
	}
	form := url.Values{
		"client_name":   {strings.TrimSpace(cfg.ClientName)},
		"redirect_uris": {cfg.RedirectURI},
		"scopes":        {scopes},
	}
	if cfg.Website != "" {
		form.Set("website", cfg.Website)
	}
	ex, err := p.postForm(ctx, base+"/api/v1/apps", form)
	if err != nil {
		return App{}, oauthTransportError(err, base)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return App{}, oauthStatusError(ex, base, "registering Herald with the instance")
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(ex.Body, &out); err != nil || out.ClientID == "" || out.ClientSecret == "" {
		return App{}, errs.Wrap(fmt.Errorf("mastodon: app registration answer: %w", err), errs.Unavailable, "the instance's answer to the app registration could not be read")
	}
	return App{InstanceURL: base, ClientID: out.ClientID, ClientSecret: out.ClientSecret, RedirectURI: cfg.RedirectURI, Scopes: scopes}, nil
}

func checkRedirectURI(raw string) string {
	if raw == OutOfBand {
		return ""
	}
	if raw == "" {
		return "must not be empty"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid address"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must be an http or https address"
	case u.Host == "":
		return "must be an absolute address"
	case u.Fragment != "":
		return "must not contain a fragment (#)"
	}
	return ""
}

func checkApp(app App) (string, error) {
	var v errs.Fields
	base, problem := parseInstanceURL(app.InstanceURL)
	if problem != "" {
		v.Add("instance_url", "%s", problem)
	}
	if app.ClientID == "" || app.ClientSecret == "" {
		v.Add("app", "is not registered with the instance")
	}
	if problem := checkRedirectURI(app.RedirectURI); problem != "" {
		v.Add("redirect_uri", "%s", problem)
	}
	return base, v.Err()
}

// AuthorizeURL is the instance page where the user grants Herald access
// (GET /oauth/authorize). state must be random and tied to the user's
// session; the instance returns it unchanged with the code. The URL asks
// the instance to show its login form even to a signed-in user
// (force_login), since an agency connects many accounts from one browser.
func AuthorizeURL(app App, state string) (string, error) {
	base, err := checkApp(app)
	if err == nil && state == "" {
		var v errs.Fields
		v.Add("state", "must not be empty")
		err = v.Err()
	}
	if err != nil {
		return "", err
	}
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {app.ClientID},
		"redirect_uri":  {app.RedirectURI},
		"scope":         {app.Scopes},
		"state":         {state},
		"force_login":   {"true"},
	}
	return base + "/oauth/authorize?" + q.Encode(), nil
}

// ExchangeCode turns the code the instance sent back into an access token
// (POST /oauth/token, grant_type=authorization_code).
func (p *Provider) ExchangeCode(ctx context.Context, app App, code string) (Token, error) {
	base, err := checkApp(app)
	if err != nil {
		return Token{}, err
	}
	code = strings.TrimSpace(code)
	if code == "" {
		var v errs.Fields
		v.Add("code", "must not be empty")
		return Token{}, v.Err()
	}
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"client_id":    {app.ClientID},
		"redirect_uri": {app.RedirectURI},
		"scope":        {app.Scopes},
	}
	// The secret goes in the body, which every Mastodon version accepts.
	form.Set("client_secret", app.ClientSecret)
	ex, err := p.postForm(ctx, base+"/oauth/token", form)
	if err != nil {
		return Token{}, oauthTransportError(err, base)
	}
	if ex.Res.StatusCode != http.StatusOK {
		var e apiError
		_ = json.Unmarshal(ex.Body, &e)
		switch {
		case e.Error == "invalid_grant":
			var v errs.Fields
			v.Add("code", "is invalid or has expired; connect the account again")
			return Token{}, v.Err()
		case e.Error == "invalid_client":
			return Token{}, errs.E(errs.Forbidden, "the instance no longer recognises Herald's registration; register Herald with the instance again")
		}
		return Token{}, oauthStatusError(ex, base, "getting an access token")
	}
	t, ok := p.parseToken(ex.Body)
	if !ok {
		return Token{}, errs.Wrap(errors.New("mastodon: unreadable token answer"), errs.Unavailable, "the instance's answer with the access token could not be read")
	}
	return t, nil
}

// parseToken reads a token endpoint's answer (RFC 6749 section 5.1, with
// Mastodon's created_at).
func (p *Provider) parseToken(body []byte) (Token, bool) {
	var out struct {
		AccessToken  string `json:"access_token"`
		Scope        string `json:"scope"`
		CreatedAt    int64  `json:"created_at"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return Token{}, false
	}
	now := p.now()
	t := Token{AccessToken: out.AccessToken, Scope: out.Scope, CreatedAt: now, RefreshToken: out.RefreshToken}
	if out.CreatedAt > 0 {
		t.CreatedAt = time.Unix(out.CreatedAt, 0)
	}
	if out.ExpiresIn > 0 {
		// Counted from when the answer arrived, not created_at: a skewed
		// instance clock must not make a token look fresher than it is.
		t.ExpiresAt = now.Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	return t, true
}

func (p *Provider) postForm(ctx context.Context, u string, form url.Values) (exchange, error) {
	req, err := newRequest(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return exchange{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.do(req, "", "")
}

func oauthTransportError(err error, base string) error {
	if errors.Is(err, outbound.ErrRefused) {
		var v errs.Fields
		v.Add("instance_url", "%s", errs.PublicMessage(err))
		return v.Err()
	}
	return errs.Wrap(err, errs.Unavailable, fmt.Sprintf("could not reach %s; check the address or try again later", base))
}

func oauthStatusError(ex exchange, base, op string) error {
	code := ex.Res.StatusCode
	said := serverMessage(ex.Body)
	if said == "" {
		said = fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	var v errs.Fields
	switch {
	case code >= 300 && code < 400:
		v.Add("instance_url", "redirects to %q; enter that address instead", ex.Res.Header.Get("Location"))
		return v.Err()
	case code == http.StatusNotFound || code == http.StatusGone:
		v.Add("instance_url", "does not look like a Mastodon server (%s has no OAuth API)", base)
		return v.Err()
	case code == http.StatusTooManyRequests:
		return errs.E(errs.RateLimited, "%s: the instance is limiting requests; try again in a few minutes", op)
	case code >= 500 || code == http.StatusRequestTimeout:
		return errs.E(errs.Unavailable, "%s: the instance is having trouble (%s); try again later", op, said)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return errs.E(errs.Forbidden, "%s: the instance refused: %s", op, said)
	default:
		return errs.E(errs.Invalid, "%s: the instance refused: %s", op, said)
	}
}
