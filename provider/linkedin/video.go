package linkedin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/httpcall"
)

// uploadInstruction is one part of a video upload: bytes firstByte to
// lastByte (inclusive) go to uploadUrl.
type uploadInstruction struct {
	UploadURL string `json:"uploadUrl"`
	FirstByte int64  `json:"firstByte"`
	LastByte  int64  `json:"lastByte"`
}

// uploadVideo puts m through the Videos API: initializeUpload for the
// author, a PUT of each part to the URL LinkedIn answers (keeping the
// ETag of each), finalizeUpload with those ids, then polls the video
// until LinkedIn has processed it (AVAILABLE), for at most pollTimeout.
// It returns the video URN. Nothing is public until the post names it, so
// every failure here is safe to retry.
func (p *Provider) uploadVideo(ctx context.Context, base string, acct provider.Account, m provider.Media) (string, error) {
	const op = "uploading the video"
	if m.Open == nil || m.Size <= 0 {
		return "", &provider.Error{Kind: provider.BadContent, Message: op + ": the attachment has no content"}
	}
	var init struct {
		Value struct {
			Video        string              `json:"video"`
			UploadToken  string              `json:"uploadToken"`
			Instructions []uploadInstruction `json:"uploadInstructions"`
		} `json:"value"`
	}
	body := map[string]any{"initializeUploadRequest": map[string]any{
		"owner": acct.RemoteID, "fileSizeBytes": m.Size, "uploadCaptions": false, "uploadThumbnail": false,
	}}
	if err := p.videoCall(ctx, acct, op, base+"/rest/videos?action=initializeUpload", body, &init); err != nil {
		return "", err
	}
	v := init.Value
	if v.Video == "" || !contiguous(v.Instructions, m.Size) {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's upload instructions could not be used"}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": the attachment could not be read", Err: err}
	}
	defer rc.Close()
	ids := make([]string, 0, len(v.Instructions))
	for i, in := range v.Instructions {
		id, err := p.putPart(ctx, acct, fmt.Sprintf("%s (part %d of %d)", op, i+1, len(v.Instructions)), in, rc)
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	fin := map[string]any{"finalizeUploadRequest": map[string]any{"video": v.Video, "uploadToken": v.UploadToken, "uploadedPartIds": ids}}
	if err := p.videoCall(ctx, acct, op, base+"/rest/videos?action=finalizeUpload", fin, nil); err != nil {
		return "", err
	}
	return v.Video, p.awaitVideo(ctx, base, acct, v.Video)
}

// contiguous reports whether the parts cover bytes 0 to size-1 in order.
func contiguous(parts []uploadInstruction, size int64) bool {
	next := int64(0)
	for _, in := range parts {
		if in.FirstByte != next || in.LastByte < in.FirstByte || in.UploadURL == "" {
			return false
		}
		if u, err := url.Parse(in.UploadURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return false
		}
		next = in.LastByte + 1
	}
	return len(parts) > 0 && next == size
}

// putPart streams the part's bytes from r to its upload URL and returns
// the ETag LinkedIn names it by.
func (p *Provider) putPart(ctx context.Context, acct provider.Account, op string, in uploadInstruction, r io.Reader) (string, error) {
	n := in.LastByte - in.FirstByte + 1
	req, perr := httpcall.NewRequest(ctx, http.MethodPut, in.UploadURL, io.LimitReader(r, n), op)
	if perr != nil {
		return "", perr
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return "", httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	if ex.Res.StatusCode != http.StatusOK && ex.Res.StatusCode != http.StatusCreated {
		return "", p.statusError(acct, ex, op)
	}
	etag := ex.Res.Header.Get("ETag")
	if etag == "" {
		return "", &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's answer had no part id (ETag)"}
	}
	return etag, nil
}

// videoCall POSTs body as JSON to a Videos API action and decodes the
// answer into out (when not nil).
func (p *Provider) videoCall(ctx context.Context, acct provider.Account, op, u string, body, out any) error {
	b, _ := json.Marshal(body)
	req, perr := p.request(ctx, http.MethodPost, u, bytes.NewReader(b), op)
	if perr != nil {
		return perr
	}
	ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
	if err != nil {
		return httpcall.TransportError(err, ex, op, "LinkedIn", false)
	}
	if ex.Res.StatusCode != http.StatusOK && ex.Res.StatusCode != http.StatusCreated {
		return p.statusError(acct, ex, op)
	}
	if out != nil {
		if err := json.Unmarshal(ex.Body, out); err != nil {
			return &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's answer could not be read", Err: err}
		}
	}
	return nil
}

// awaitVideo polls GET /rest/videos/{urn} until the video is AVAILABLE;
// PROCESSING_FAILED is BadContent, still processing after pollTimeout is
// Retry.
func (p *Provider) awaitVideo(ctx context.Context, base string, acct provider.Account, urn string) error {
	const op = "waiting for LinkedIn to process the video"
	deadline := time.Now().Add(p.pollTimeout)
	for {
		req, perr := p.request(ctx, http.MethodGet, base+"/rest/videos/"+url.PathEscape(urn), nil, op)
		if perr != nil {
			return perr
		}
		ex, err := httpcall.DoBearer(p.client, req, acct.AccessToken)
		if err != nil {
			return httpcall.TransportError(err, ex, op, "LinkedIn", false)
		}
		if ex.Res.StatusCode != http.StatusOK {
			return p.statusError(acct, ex, op)
		}
		var out struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(ex.Body, &out); err != nil {
			return &provider.Error{Kind: provider.Retry, Message: op + ": LinkedIn's answer could not be read", Err: err}
		}
		switch out.Status {
		case "AVAILABLE":
			return nil
		case "PROCESSING_FAILED":
			return &provider.Error{Kind: provider.BadContent, Message: op + ": LinkedIn could not process the video"}
		}
		if time.Now().After(deadline) {
			return &provider.Error{Kind: provider.Retry, Message: fmt.Sprintf("%s: it was still %s after %s", op, out.Status, p.pollTimeout)}
		}
		t := time.NewTimer(p.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return &provider.Error{Kind: provider.Retry, Message: op + ": stopped while LinkedIn was processing it", Err: ctx.Err()}
		case <-t.C:
		}
	}
}
