package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
	"github.com/heraldhq/herald/provider/internal/validate"
)

type chat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	Username string `json:"username"`
}

type message struct {
	MessageID int64 `json:"message_id"`
	Chat      chat  `json:"chat"`
}

type replyParameters struct {
	MessageID int64 `json:"message_id"`
}

// account checks what a call needs from acct.
func account(acct provider.Account) *provider.Error {
	if perr := checkToken(acct.AccessToken); perr != nil {
		return perr
	}
	if strings.TrimSpace(acct.RemoteID) == "" {
		return &provider.Error{Kind: provider.Disconnected, Message: "the account names no Telegram chat; reconnect it with the chat id"}
	}
	return nil
}

// Publish sends p to acct's chat: sendMessage for text, sendPhoto for one
// image, sendMediaGroup for several. Telegram has no idempotency key, so a
// send whose answer was lost is Unknown and a repeat may post twice; the
// Publisher decides. Result.RemoteID is the (first) message id; Ref lists
// "chat_id message_id…" for Delete; RemoteURL is set for public chats.
func (p *Provider) Publish(ctx context.Context, acct provider.Account, post provider.Post) (provider.Result, error) {
	if perr := account(acct); perr != nil {
		return provider.Result{}, perr
	}
	if len(post.Media) > MaxMedia {
		return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: fmt.Sprintf("Telegram takes at most %d images in a post", MaxMedia)}
	}
	var reply *replyParameters
	if post.ReplyTo != nil && post.ReplyTo.RemoteID != "" {
		id, err := strconv.ParseInt(post.ReplyTo.RemoteID, 10, 64)
		if err != nil {
			return provider.Result{}, &provider.Error{Kind: provider.BadContent, Message: "the post to reply to has no Telegram message id", Err: err}
		}
		reply = &replyParameters{MessageID: id}
	}
	base := p.baseFor(acct)
	var msgs []message
	var perr *provider.Error
	switch len(post.Media) {
	case 0:
		msgs, perr = p.sendMessage(ctx, base, acct, post.Text, reply)
	case 1:
		method := "sendPhoto"
		if isVideo(post.Media[0]) {
			method = "sendVideo"
		}
		msgs, perr = p.sendMedia(ctx, base, acct, method, post, reply)
	default:
		msgs, perr = p.sendMedia(ctx, base, acct, "sendMediaGroup", post, reply)
	}
	if perr != nil {
		return provider.Result{}, perr
	}
	if len(msgs) == 0 || msgs[0].MessageID == 0 {
		return provider.Result{}, &provider.Error{Kind: provider.Unknown, Message: "sending the message: Telegram's answer named no message"}
	}
	return result(msgs), nil
}

func result(msgs []message) provider.Result {
	first := msgs[0]
	ref := []string{strconv.FormatInt(first.Chat.ID, 10)}
	for _, m := range msgs {
		ref = append(ref, strconv.FormatInt(m.MessageID, 10))
	}
	res := provider.Result{RemoteID: strconv.FormatInt(first.MessageID, 10), Ref: strings.Join(ref, " ")}
	if first.Chat.Username != "" {
		res.RemoteURL = fmt.Sprintf("https://t.me/%s/%d", first.Chat.Username, first.MessageID)
	}
	return res
}

func (p *Provider) sendMessage(ctx context.Context, base string, acct provider.Account, text string, reply *replyParameters) ([]message, *provider.Error) {
	body, err := json.Marshal(struct {
		ChatID          string           `json:"chat_id"`
		Text            string           `json:"text"`
		ReplyParameters *replyParameters `json:"reply_parameters,omitempty"`
	}{acct.RemoteID, text, reply})
	if err != nil {
		return nil, &provider.Error{Kind: provider.BadContent, Message: "sending the message: the request could not be built", Err: err}
	}
	var m message
	perr := p.do(ctx, base, acct.AccessToken, call{
		method: "sendMessage", op: "sending the message", body: bytes.NewReader(body),
		contentType: "application/json", maybeApplied: true,
	}, &m)
	if perr != nil {
		return nil, perr
	}
	return []message{m}, nil
}

func isVideo(m provider.Media) bool { return slices.Contains(VideoTypes, validate.MediaType(m)) }

// sendMedia uploads post's images and videos with sendPhoto or sendVideo
// (one) or sendMediaGroup (several), streaming them into the multipart
// body.
func (p *Provider) sendMedia(ctx context.Context, base string, acct provider.Account, method string, post provider.Post, reply *replyParameters) ([]message, *provider.Error) {
	const op = "sending the media"
	files, perr := httpcall.OpenAll(ctx, post.Media, op)
	if perr != nil {
		return nil, perr
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		defer httpcall.CloseAll(files)
		pw.CloseWithError(writeMediaForm(mw, method, acct.RemoteID, post, files, reply))
	}()
	defer pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the server answered early
	c := call{method: method, op: op, body: pr, contentType: mw.FormDataContentType(), maybeApplied: true}
	if method != "sendMediaGroup" {
		var m message
		if perr := p.do(ctx, base, acct.AccessToken, c, &m); perr != nil {
			return nil, perr
		}
		return []message{m}, nil
	}
	var ms []message
	if perr := p.do(ctx, base, acct.AccessToken, c, &ms); perr != nil {
		return nil, perr
	}
	return ms, nil
}

type inputMedia struct {
	Type    string `json:"type"`
	Media   string `json:"media"`
	Caption string `json:"caption,omitempty"`
}

func writeMediaForm(mw *multipart.Writer, method, chatID string, post provider.Post, files []io.ReadCloser, reply *replyParameters) error {
	if err := mw.WriteField("chat_id", chatID); err != nil {
		return err
	}
	if reply != nil {
		b, _ := json.Marshal(reply)
		if err := mw.WriteField("reply_parameters", string(b)); err != nil {
			return err
		}
	}
	if method != "sendMediaGroup" {
		if post.Text != "" {
			if err := mw.WriteField("caption", post.Text); err != nil {
				return err
			}
		}
		field := "photo"
		if method == "sendVideo" {
			field = "video"
		}
		if err := writeFile(mw, field, post.Media[0], files[0]); err != nil {
			return err
		}
		return mw.Close()
	}
	items := make([]inputMedia, len(post.Media))
	for i, m := range post.Media {
		items[i] = inputMedia{Type: "photo", Media: fmt.Sprintf("attach://file%d", i)}
		if isVideo(m) {
			items[i].Type = "video"
		}
	}
	items[0].Caption = post.Text
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	if err := mw.WriteField("media", string(b)); err != nil {
		return err
	}
	for i, m := range post.Media {
		if err := writeFile(mw, fmt.Sprintf("file%d", i), m, files[i]); err != nil {
			return err
		}
	}
	return mw.Close()
}

func writeFile(mw *multipart.Writer, field string, m provider.Media, file io.Reader) error {
	name := path.Base(strings.ReplaceAll(m.FileName, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "image"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipart.FileContentDisposition(field, name))
	h.Set("Content-Type", validate.MediaType(m))
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(part, file)
	return err
}

// Delete deletes every message of a post (deleteMessage; bots may delete
// their own messages for 48 hours). A message already gone counts as
// deleted.
func (p *Provider) Delete(ctx context.Context, acct provider.Account, res provider.Result) error {
	if perr := checkToken(acct.AccessToken); perr != nil {
		return perr
	}
	ref := strings.Fields(res.Ref)
	if len(ref) < 2 {
		if res.RemoteID == "" || acct.RemoteID == "" {
			return &provider.Error{Kind: provider.BadContent, Message: "the post has no Telegram message to delete"}
		}
		ref = []string{acct.RemoteID, res.RemoteID}
	}
	base := p.baseFor(acct)
	for _, id := range ref[1:] {
		body, _ := json.Marshal(map[string]string{"chat_id": ref[0], "message_id": id})
		perr := p.do(ctx, base, acct.AccessToken, call{
			method: "deleteMessage", op: "deleting the message", body: bytes.NewReader(body), contentType: "application/json",
		}, nil)
		if perr != nil && !(perr.Kind == provider.BadContent && strings.Contains(perr.Message, "message to delete not found")) {
			return perr
		}
	}
	return nil
}
