package bluesky

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

// session is what createSession and refreshSession answer.
type session struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Did        string `json:"did"`
	Handle     string `json:"handle"`
	Active     *bool  `json:"active"`
	Status     string `json:"status"`
}

// Connection is what Connect yields: the credentials to store and whose
// account they are. The account to store is
// provider.Account{Network: "bluesky", InstanceURL: PDS, RemoteID:
// Profile.RemoteID, Handle: Profile.Handle} with Credentials' tokens and
// expiry.
type Connection struct {
	PDS         string
	Credentials provider.Credentials
	Profile     provider.Profile
}

// Account returns the provider.Account the connection makes.
func (c Connection) Account() provider.Account {
	return provider.Account{
		Network:      Network,
		InstanceURL:  c.PDS,
		AccessToken:  c.Credentials.AccessToken,
		RefreshToken: c.Credentials.RefreshToken,
		ExpiresAt:    c.Credentials.ExpiresAt,
		Handle:       c.Profile.Handle,
		RemoteID:     c.Profile.RemoteID,
	}
}

// Connect signs in to the PDS at pdsURL (empty: DefaultPDS) with an
// identifier (handle, DID or email) and an app password, through
// com.atproto.server.createSession. Errors are *provider.Error: a wrong
// identifier or password is Disconnected with a message for the user; an
// address that is not a PDS comes back as an errs.Fields error on
// "instance_url".
func (p *Provider) Connect(ctx context.Context, pdsURL, identifier, appPassword string) (Connection, error) {
	base, err := NormalizePDSURL(pdsURL)
	if err != nil {
		return Connection{}, err
	}
	const op = "signing in to Bluesky"
	identifier = strings.TrimPrefix(strings.TrimSpace(identifier), "@")
	if identifier == "" || appPassword == "" {
		return Connection{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the handle and the app password are both needed"}
	}
	a, err := p.do(ctx, base, call{
		method: "com.atproto.server.createSession", post: true,
		body: map[string]string{"identifier": identifier, "password": appPassword},
	})
	if err != nil {
		return Connection{}, transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		if a.status == http.StatusUnauthorized && a.xrpcError().Error != "AuthFactorTokenRequired" {
			return Connection{}, &provider.Error{Kind: provider.Disconnected, Status: a.status, Message: op + ": the handle or the app password is wrong"}
		}
		return Connection{}, p.statusError(a, op)
	}
	s, perr := p.readSession(a, op)
	if perr != nil {
		return Connection{}, perr
	}
	return Connection{
		PDS:         base,
		Credentials: provider.Credentials{AccessToken: s.AccessJwt, RefreshToken: s.RefreshJwt, ExpiresAt: jwtExpiry(s.AccessJwt)},
		Profile:     profile(s.Did, s.Handle),
	}, nil
}

func (p *Provider) readSession(a answer, op string) (session, *provider.Error) {
	var s session
	if err := a.decode(&s); err != nil || s.AccessJwt == "" || s.Did == "" {
		return s, &provider.Error{Kind: provider.Retry, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
	}
	if s.Active != nil && !*s.Active {
		return s, &provider.Error{Kind: provider.Disconnected, Status: a.status, Message: op + ": the account is " + orDefault(s.Status, "inactive") + " on its PDS"}
	}
	return s, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func profile(did, handle string) provider.Profile {
	pr := provider.Profile{RemoteID: did, Handle: handle, URL: "https://bsky.app/profile/" + did}
	if handle != "" && handle != "handle.invalid" {
		pr.URL = "https://bsky.app/profile/" + handle
	}
	return pr
}

// NeedsRefresh reports whether acct's access token expires within five
// minutes of now, by ExpiresAt or else the token's own exp claim; never
// without a refresh token to renew it with.
func (p *Provider) NeedsRefresh(acct provider.Account, now time.Time) bool {
	if acct.RefreshToken == "" {
		return false
	}
	exp := acct.ExpiresAt
	if exp.IsZero() {
		exp = jwtExpiry(acct.AccessToken)
	}
	return !exp.IsZero() && !now.Add(refreshMargin).Before(exp)
}

// Refresh renews acct's session with com.atproto.server.refreshSession,
// whose bearer is the refresh token. The PDS rotates the refresh token, so
// the new one must replace the stored one. A refused or expired refresh
// token is Disconnected.
func (p *Provider) Refresh(ctx context.Context, acct provider.Account) (provider.Credentials, error) {
	const op = "renewing the Bluesky session"
	base, perr := pdsOf(acct)
	if perr != nil {
		return provider.Credentials{}, perr
	}
	if acct.RefreshToken == "" {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the account has no refresh token; reconnect the account"}
	}
	a, err := p.do(ctx, base, call{method: "com.atproto.server.refreshSession", post: true, token: acct.RefreshToken, rateKey: accountKey(acct)})
	if err != nil {
		return provider.Credentials{}, transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		e := p.statusError(a, op)
		if e.Kind == provider.Expired {
			// The refresh token itself has run out: only a new sign-in helps.
			e.Kind, e.Message = provider.Disconnected, op+": the session has ended; reconnect the account"
		}
		return provider.Credentials{}, e
	}
	s, perr := p.readSession(a, op)
	if perr != nil {
		return provider.Credentials{}, perr
	}
	return provider.Credentials{AccessToken: s.AccessJwt, RefreshToken: s.RefreshJwt, ExpiresAt: jwtExpiry(s.AccessJwt)}, nil
}

// VerifyCredentials asks the PDS whose session acct holds
// (com.atproto.server.getSession).
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	const op = "checking the Bluesky session"
	base, perr := account(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	a, err := p.do(ctx, base, call{method: "com.atproto.server.getSession", token: acct.AccessToken, rateKey: accountKey(acct)})
	if err != nil {
		return provider.Profile{}, transportError(err, a, op, false)
	}
	if a.status != http.StatusOK {
		return provider.Profile{}, p.statusError(a, op)
	}
	var s session
	if err := a.decode(&s); err != nil || s.Did == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Status: a.status, Message: op + ": the PDS's answer could not be read", Err: err}
	}
	if s.Active != nil && !*s.Active {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Status: a.status, Message: op + ": the account is " + orDefault(s.Status, "inactive") + " on its PDS"}
	}
	return profile(s.Did, s.Handle), nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (only the
// PDS can, and it does); zero when there is none.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return time.Time{}
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0)
}

// pdsOf checks acct's PDS address and returns it as a base URL.
func pdsOf(acct provider.Account) (string, *provider.Error) {
	base, problem := parsePDSURL(acct.InstanceURL)
	if problem != "" {
		return "", &provider.Error{Kind: provider.Disconnected, Message: "the account's PDS address " + problem + "; reconnect the account"}
	}
	return base, nil
}

// account checks what a call with acct's session needs and returns the
// PDS's base URL.
func account(acct provider.Account) (string, *provider.Error) {
	base, perr := pdsOf(acct)
	if perr != nil {
		return "", perr
	}
	if acct.AccessToken == "" {
		return "", &provider.Error{Kind: provider.Disconnected, Message: "the account has no Bluesky session; reconnect the account"}
	}
	return base, nil
}

// NormalizePDSURL checks a PDS address as a user typed it and returns it as
// "https://host[:port]"; empty means DefaultPDS. A bare host gets https;
// http is kept when asked for (a local PDS). Anything else than a server's
// address is refused with an errs.Fields error on "instance_url".
func NormalizePDSURL(raw string) (string, error) {
	u, problem := parsePDSURL(raw)
	if problem != "" {
		var f errs.Fields
		f.Add("instance_url", "%s", problem)
		return "", f.Err()
	}
	return u, nil
}

func parsePDSURL(raw string) (string, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return DefaultPDS, ""
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "is not a valid address"
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", "must be an https (or http) address"
	case u.Hostname() == "":
		return "", "must name a server, such as bsky.social"
	case u.User != nil:
		return "", "must not contain a user name or password"
	case u.Path != "" && u.Path != "/":
		return "", "must be the server's address only, without a path"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "must be the server's address only, without ? or #"
	}
	return scheme + "://" + strings.ToLower(u.Host), ""
}
