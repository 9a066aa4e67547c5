package mastodon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/heraldhq/herald/provider"
)

type accountEntity struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	Acct        string `json:"acct"`
	DisplayName string `json:"display_name"`
	URL         string `json:"url"`
}

// VerifyCredentials asks the instance whose token acct holds
// (GET /api/v1/accounts/verify_credentials). Profile.Handle is the full
// "@user@domain", with the instance's own account domain when it says
// which (GET /api/v2/instance), else the host of its address. Errors are
// *provider.Error; a refused token is Disconnected.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	const op = "checking the account"
	base, perr := account(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	req, err := newRequest(ctx, http.MethodGet, base+"/api/v1/accounts/verify_credentials", nil)
	if err != nil {
		return provider.Profile{}, &provider.Error{Kind: provider.Disconnected, Message: op + ": the request could not be built", Err: err}
	}
	ex, err := p.do(req, acct.AccessToken, accountKey(acct))
	if err != nil {
		return provider.Profile{}, transportError(err, ex, op, false)
	}
	if ex.Res.StatusCode != http.StatusOK {
		return provider.Profile{}, p.statusError(ex, op)
	}
	var a accountEntity
	if err := json.Unmarshal(ex.Body, &a); err != nil || a.ID == "" || a.Username == "" {
		return provider.Profile{}, &provider.Error{Kind: provider.Retry, Message: op + ": the instance's answer could not be read", Status: ex.Res.StatusCode, Err: err}
	}
	domain := p.accountDomain(ctx, base)
	name := a.DisplayName
	if strings.TrimSpace(name) == "" {
		name = a.Username
	}
	return provider.Profile{
		RemoteID:    a.ID,
		Handle:      "@" + a.Username + "@" + domain,
		DisplayName: name,
		URL:         a.URL,
	}, nil
}

// accountDomain is the domain in the instance's handles, which can differ
// from the host serving its API (Mastodon's LOCAL_DOMAIN and WEB_DOMAIN).
func (p *Provider) accountDomain(ctx context.Context, base string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	inst, err := p.instance(ctx, base)
	if err != nil || inst.Domain == "" {
		return host
	}
	return inst.Domain
}

type instanceEntity struct {
	Domain        string `json:"domain"` // v2
	URI           string `json:"uri"`    // v1
	Configuration struct {
		Statuses struct {
			MaxCharacters       int `json:"max_characters"`
			MaxMediaAttachments int `json:"max_media_attachments"`
		} `json:"statuses"`
		MediaAttachments struct {
			SupportedMimeTypes []string `json:"supported_mime_types"`
			ImageSizeLimit     int64    `json:"image_size_limit"`
			VideoSizeLimit     int64    `json:"video_size_limit"`
		} `json:"media_attachments"`
	} `json:"configuration"`
}

// instance reads GET /api/v2/instance, falling back to the v1 endpoint of
// servers older than Mastodon 4.0.
func (p *Provider) instance(ctx context.Context, base string) (instanceEntity, error) {
	const op = "reading the instance's settings"
	var inst instanceEntity
	for _, path := range []string{"/api/v2/instance", "/api/v1/instance"} {
		req, err := newRequest(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return inst, &provider.Error{Kind: provider.Retry, Message: op + ": the request could not be built", Err: err}
		}
		ex, err := p.do(req, "", "")
		if err != nil {
			return inst, transportError(err, ex, op, false)
		}
		if ex.Res.StatusCode == http.StatusNotFound && path == "/api/v2/instance" {
			continue
		}
		if ex.Res.StatusCode != http.StatusOK {
			return inst, p.statusError(ex, op)
		}
		if err := json.Unmarshal(ex.Body, &inst); err != nil {
			return inst, &provider.Error{Kind: provider.Retry, Message: op + ": the instance's answer could not be read", Err: err}
		}
		if inst.Domain == "" && inst.URI != "" {
			if u, err := url.Parse(inst.URI); err == nil && u.Host != "" {
				inst.Domain = u.Host
			} else {
				inst.Domain = inst.URI
			}
		}
		return inst, nil
	}
	return inst, &provider.Error{Kind: provider.Disconnected, Message: op + ": the instance has no instance API; is it a Mastodon server?"}
}

// InstanceLimits reads the limits an instance is configured with (many
// raise the 500 characters), for ValidateWith. What the instance leaves
// out keeps Mastodon's default. Errors are *provider.Error.
func (p *Provider) InstanceLimits(ctx context.Context, instanceURL string) (provider.Limits, error) {
	l := p.Limits()
	base, problem := parseInstanceURL(instanceURL)
	if problem != "" {
		return l, &provider.Error{Kind: provider.BadContent, Message: "the instance address " + problem}
	}
	inst, err := p.instance(ctx, base)
	if err != nil {
		return l, err
	}
	c := inst.Configuration
	if c.Statuses.MaxCharacters > 0 {
		l.MaxTextChars = c.Statuses.MaxCharacters
	}
	if c.Statuses.MaxMediaAttachments > 0 {
		l.MaxMedia = c.Statuses.MaxMediaAttachments
	}
	if c.MediaAttachments.ImageSizeLimit > 0 {
		l.MaxImageBytes = c.MediaAttachments.ImageSizeLimit
	}
	if c.MediaAttachments.VideoSizeLimit > 0 {
		l.MaxVideoBytes = c.MediaAttachments.VideoSizeLimit
	}
	if types := c.MediaAttachments.SupportedMimeTypes; len(types) > 0 {
		var images, videos []string
		for _, t := range types {
			switch {
			case strings.HasPrefix(t, "image/"):
				images = append(images, t)
			case strings.HasPrefix(t, "video/"):
				videos = append(videos, t)
			}
		}
		slices.Sort(images)
		slices.Sort(videos)
		if len(images) > 0 {
			l.ImageTypes = images
		}
		// An instance that lists its types but no video takes none.
		l.VideoTypes = videos
		if len(videos) == 0 {
			l.MaxVideoBytes = 0
		}
	}
	return l, nil
}
