package httpcall

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/outbound"
	"github.com/heraldhq/herald/provider"
)

// ExchangeCode turns an authorization code into credentials at cfg's token
// endpoint, sending verifier when the flow used PKCE. It is called from
// the Portal's connect callback, so its errors are errs errors: a refused
// code names the field "code".
func ExchangeCode(ctx context.Context, client *http.Client, cfg *oauth2.Config, network, code, verifier string) (provider.Credentials, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		var v errs.Fields
		v.Add("code", "must not be empty")
		return provider.Credentials{}, v.Err()
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, client), code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_request" && re.Response != nil && re.Response.StatusCode == http.StatusBadRequest):
			var v errs.Fields
			v.Add("code", "is invalid or has expired; connect the account again")
			return provider.Credentials{}, v.Err()
		case errors.As(err, &re) && (re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client"):
			return provider.Credentials{}, errs.E(errs.Forbidden, "%s refused Herald's app credentials; check the client id and secret in the configuration", network)
		case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests:
			return provider.Credentials{}, errs.E(errs.RateLimited, "%s is limiting requests; try again in a few minutes", network)
		case errors.Is(err, outbound.ErrRefused):
			return provider.Credentials{}, errs.Wrap(err, errs.Unavailable, errs.PublicMessage(err))
		}
		return provider.Credentials{}, errs.Wrap(err, errs.Unavailable, fmt.Sprintf("could not get an access token from %s; try again later", network))
	}
	return provider.Credentials{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: tok.Expiry}, nil
}

// Refresh renews credentials with the refresh_token grant. The answer's
// refresh token is returned only when it is a new one (a network that
// rotates them, as X does, invalidates the old one). A refused refresh
// token is Disconnected; errors are *provider.Error.
func Refresh(ctx context.Context, client *http.Client, cfg *oauth2.Config, network, refreshToken string) (provider.Credentials, error) {
	const op = "renewing the access token"
	if refreshToken == "" {
		return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the account has no refresh token; reconnect the account"}
	}
	// An empty access token makes the token source refresh at once.
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, client), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			code := re.Response.StatusCode
			e := &provider.Error{Status: code, Err: err}
			switch {
			case code == http.StatusTooManyRequests:
				e.Kind, e.Message = provider.RateLimited, op+": "+network+" is limiting requests"
				e.RetryAfter = RetryAfter(re.Response.Header, timeNow())
			case code >= 500:
				e.Kind, e.Message = provider.Retry, fmt.Sprintf("%s: %s answered %d", op, network, code)
			default:
				// invalid_grant (revoked, expired or already rotated),
				// invalid_client and the like: only a new connection helps.
				e.Kind, e.Message = provider.Disconnected, op+": "+network+" refused the refresh token; reconnect the account"
			}
			return provider.Credentials{}, e
		}
		if errors.Is(err, outbound.ErrRefused) {
			return provider.Credentials{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": " + errs.PublicMessage(err), Err: err}
		}
		// A lost answer may have rotated the refresh token; the next try
		// then learns that it was refused and asks for a reconnection.
		return provider.Credentials{}, &provider.Error{Kind: provider.Retry, Message: op + ": could not reach " + network, Err: err}
	}
	c := provider.Credentials{AccessToken: tok.AccessToken, ExpiresAt: tok.Expiry}
	if tok.RefreshToken != refreshToken {
		c.RefreshToken = tok.RefreshToken
	}
	return c, nil
}

// timeNow is the clock for Retry-After on token answers (x/oauth2 uses
// the wall clock for expiries too).
var timeNow = time.Now
