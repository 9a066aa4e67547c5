package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// payload is Execute Webhook's JSON (payload_json with files).
type payload struct {
	Content         string          `json:"content,omitempty"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
	Attachments     []attachment    `json:"attachments,omitempty"`
}

// allowedMentions says which mentions in the content notify anyone:
// users only, so a post's "@everyone" does not ping a whole server.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type attachment struct {
	ID          int    `json:"id"`
	Filename    string `json:"filename"`
	Description string `json:"description,omitempty"`
}

type message struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
	GuildID   string `json:"guild_id"`
}

// Publish posts p through acct's webhook and waits for the message
// (?wait=true). There is no idempotency key: a post whose answer was lost
// is Unknown and a repeat may post twice. Result.RemoteID and Ref are the
// message id; RemoteURL links to the message when the account's RemoteID
// names its server ("<guild_id>/<channel_id>", as Connect stores it).
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	w, perr := p.webhook(acct)
	if perr != nil {
		return provider.Result{}, perr
	}
	if len(post.Media) > MaxFiles {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("Discord takes at most %d files in a message", MaxFiles)}
	}
	pl := payload{Content: post.Text, AllowedMentions: allowedMentions{Parse: []string{"users"}}}
	c := call{method: http.MethodPost, url: w.URL + "?wait=true", op: "posting the message", maybeApplied: true}
	if len(post.Media) == 0 {
		b, err := json.Marshal(pl)
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: c.op + ": the request could not be built", Err: err}
		}
		c.body, c.contentType = bytes.NewReader(b), "application/json"
	} else {
		files, perr := httpcall.OpenAll(ctx, post.Media, c.op)
		if perr != nil {
			return provider.Result{}, perr
		}
		for i, m := range post.Media {
			pl.Attachments = append(pl.Attachments, attachment{ID: i, Filename: fileName(m, i), Description: m.Description})
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			defer httpcall.CloseAll(files)
			pw.CloseWithError(writeForm(mw, pl, post.Media, files))
		}()
		defer pr.CloseWithError(io.ErrClosedPipe)
		c.body, c.contentType = pr, mw.FormDataContentType()
	}
	var m message
	if perr := p.do(ctx, w, c, &m); perr != nil {
		return provider.Result{}, perr
	}
	if m.ID == "" {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: c.op + ": Discord's answer named no message"}
	}
	res := provider.Result{RemoteID: m.ID, Ref: m.ID}
	guild := m.GuildID
	if g, _, ok := strings.Cut(acct.RemoteID, "/"); ok && guild == "" {
		guild = g
	}
	if guild != "" && m.ChannelID != "" {
		res.RemoteURL = fmt.Sprintf("https://discord.com/channels/%s/%s/%s", guild, m.ChannelID, m.ID)
	}
	return res, nil
}

func fileName(m provider.Media, i int) string {
	name := path.Base(strings.ReplaceAll(m.FileName, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = fmt.Sprintf("file%d", i)
	}
	return name
}

func writeForm(mw *multipart.Writer, pl payload, media []provider.Media, files []io.ReadCloser) error {
	b, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	h.Set("Content-Type", "application/json")
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := part.Write(b); err != nil {
		return err
	}
	for i, m := range media {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition(fmt.Sprintf("files[%d]", i), pl.Attachments[i].Filename))
		h.Set("Content-Type", validate.MediaType(m))
		part, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := io.Copy(part, files[i]); err != nil {
			return err
		}
	}
	return mw.Close()
}

// Delete deletes a message the webhook posted. A message already gone
// counts as deleted.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	w, perr := p.webhook(acct)
	if perr != nil {
		return perr
	}
	id := res.Ref
	if id == "" {
		id = res.RemoteID
	}
	if id == "" {
		return &provider.Error{Kind: provider.BadContent, Message: "the post has no Discord message to delete"}
	}
	perr = p.do(ctx, w, call{method: http.MethodDelete, url: w.URL + "/messages/" + url.PathEscape(id), op: "deleting the message"}, nil)
	if perr != nil && !(perr.Kind == provider.BadContent && perr.Status == http.StatusNotFound) {
		return perr
	}
	return nil
}

// webhookInfo is Get Webhook with Token's answer.
type webhookInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	ChannelID string `json:"channel_id"`
	GuildID   string `json:"guild_id"`
}

// VerifyCredentials asks Discord for the webhook (GET with its token):
// it fails Disconnected when the webhook was deleted or its token reset.
func (p *Provider) VerifyCredentials(ctx context.Context, acct provider.Account) (provider.Profile, error) {
	w, perr := p.webhook(acct)
	if perr != nil {
		return provider.Profile{}, perr
	}
	info, perr := p.getWebhook(ctx, w)
	if perr != nil {
		return provider.Profile{}, perr
	}
	return profile(info), nil
}

func (p *Provider) getWebhook(ctx context.Context, w Webhook) (webhookInfo, *provider.Error) {
	var info webhookInfo
	perr := p.do(ctx, w, call{method: http.MethodGet, url: w.URL, op: "checking the webhook"}, &info)
	return info, perr
}

func profile(info webhookInfo) provider.Profile {
	pr := provider.Profile{RemoteID: info.ID, Handle: info.Name, DisplayName: info.Name}
	if info.GuildID != "" && info.ChannelID != "" {
		pr.URL = fmt.Sprintf("https://discord.com/channels/%s/%s", info.GuildID, info.ChannelID)
	}
	return pr
}

// Connect checks a webhook URL as a user pasted it: its shape
// (ValidateURL, an errs.Fields error on "webhook_url") and that Discord
// knows the webhook (a *provider.Error). It returns the account to store:
// InstanceURL is the webhook URL, RemoteID "<guild_id>/<channel_id>",
// Handle the webhook's name.
func (p *Provider) Connect(ctx context.Context, rawURL string) (provider.Account, provider.Profile, error) {
	w, err := parseWebhook(rawURL, p.bases)
	if err != nil {
		return provider.Account{}, provider.Profile{}, err
	}
	info, perr := p.getWebhook(ctx, w)
	if perr != nil {
		return provider.Account{}, provider.Profile{}, perr
	}
	acct := provider.Account{Network: Network, InstanceURL: w.URL, Handle: info.Name}
	if info.GuildID != "" {
		acct.RemoteID = info.GuildID + "/" + info.ChannelID
	}
	return acct, profile(info), nil
}
