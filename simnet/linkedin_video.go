package simnet

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LinkedIn's Videos API as simnet reproduces it: initializeUpload answers
// upload instructions of 4 MiB parts, each part is PUT to its URL (its
// ETag is the part's id), finalizeUpload names the part ids in order, and
// the video is then PROCESSING until it is AVAILABLE (or
// PROCESSING_FAILED for a file that is no MP4). A post may name only an
// AVAILABLE video of its author.
const (
	linkedinVideoPartBytes = 4 << 20
	// LinkedInMinVideoBytes and LinkedInMaxVideoBytes are LinkedIn's
	// 75 KB and 500 MB (its 3 s to 30 min length is not simulated).
	LinkedInMinVideoBytes = 75 * 1000
	LinkedInMaxVideoBytes = 500 * 1000 * 1000
)

type linkedinVideo struct {
	urn, owner string
	size       int64
	parts      []string // ETags of uploaded parts, "" until uploaded
	head       []byte   // the first bytes, for the type
	finalized  time.Time
	ready      time.Time
}

// status is the video's status at now; li.mu is held.
func (v *linkedinVideo) status(now time.Time) string {
	switch {
	case v.finalized.IsZero():
		return "WAITING_UPLOAD"
	case now.Before(v.ready):
		return "PROCESSING"
	case sniffMedia(v.head) != "video/mp4":
		return "PROCESSING_FAILED"
	}
	return "AVAILABLE"
}

// SetVideoProcessing sets how long a finalized video is PROCESSING
// (default 0: AVAILABLE at once).
func (li *LinkedIn) SetVideoProcessing(d time.Duration) {
	li.mu.Lock()
	li.videoProcessing = d
	li.mu.Unlock()
}

func (li *LinkedIn) mountVideos(m *http.ServeMux) {
	m.Handle("POST /linkedin/rest/videos", li.api(true, "w_member_social", li.videosAction))
	m.Handle("GET /linkedin/rest/videos/{urn}", li.api(true, "w_member_social", li.getVideo))
	m.Handle("PUT /linkedin/upload/video/{urn}/{part}", li.api(false, "w_member_social", li.uploadVideoPart))
}

func (li *LinkedIn) videosAction(w http.ResponseWriter, r *http.Request, t *netToken) {
	switch r.URL.Query().Get("action") {
	case "initializeUpload":
		li.initializeVideo(w, r, t)
	case "finalizeUpload":
		li.finalizeVideo(w, r, t)
	default:
		liError(w, http.StatusBadRequest, "", "action must be initializeUpload or finalizeUpload")
	}
}

func (li *LinkedIn) initializeVideo(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req struct {
		InitializeUploadRequest struct {
			Owner           string `json:"owner"`
			FileSizeBytes   int64  `json:"fileSizeBytes"`
			UploadCaptions  bool   `json:"uploadCaptions"`
			UploadThumbnail bool   `json:"uploadThumbnail"`
		} `json:"initializeUploadRequest"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&req); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	in := req.InitializeUploadRequest
	if in.FileSizeBytes < LinkedInMinVideoBytes || in.FileSizeBytes > LinkedInMaxVideoBytes {
		liError(w, http.StatusUnprocessableEntity, "", fmt.Sprintf("ERROR :: /initializeUploadRequest/fileSizeBytes :: must be between %d and %d", LinkedInMinVideoBytes, LinkedInMaxVideoBytes))
		return
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	if !li.mayPostAs(t.user, in.Owner) {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to upload videos for "+in.Owner)
		return
	}
	n := int((in.FileSizeBytes + linkedinVideoPartBytes - 1) / linkedinVideoPartBytes)
	v := &linkedinVideo{urn: "urn:li:video:D" + li.oauth.nextID(), owner: in.Owner, size: in.FileSizeBytes, parts: make([]string, n)}
	li.videos[v.urn] = v
	var instr []map[string]any
	for i := range n {
		first := int64(i) * linkedinVideoPartBytes
		last := min(first+linkedinVideoPartBytes, in.FileSizeBytes) - 1
		instr = append(instr, map[string]any{
			"uploadUrl": li.s.baseURL(r) + "/linkedin/upload/video/" + url.PathEscape(v.urn) + "/" + strconv.Itoa(i),
			"firstByte": first, "lastByte": last,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": map[string]any{
		"uploadUrlsExpireAt": li.s.now().Add(24 * time.Hour).UnixMilli(),
		"video":              v.urn, "uploadInstructions": instr, "uploadToken": "",
	}})
}

func (li *LinkedIn) uploadVideoPart(w http.ResponseWriter, r *http.Request, _ *netToken) {
	urn, _ := url.PathUnescape(r.PathValue("urn"))
	part, err := strconv.Atoi(r.PathValue("part"))
	li.mu.Lock()
	v := li.videos[urn]
	li.mu.Unlock()
	if v == nil || err != nil || part < 0 || part >= len(v.parts) {
		liError(w, http.StatusNotFound, "", "unknown upload URL")
		return
	}
	want := min(int64(part+1)*linkedinVideoPartBytes, v.size) - int64(part)*linkedinVideoPartBytes
	head := make([]byte, 512)
	body := http.MaxBytesReader(w, r.Body, want+1)
	h, _ := io.ReadFull(body, head)
	rest, err := io.Copy(io.Discard, body)
	if err != nil || int64(h)+rest != want {
		liError(w, http.StatusBadRequest, "", fmt.Sprintf("part %d must be exactly %d bytes", part, want))
		return
	}
	etag := fmt.Sprintf("/ambry-video/signedId/%s-%d", randomToken()[:8], part)
	li.mu.Lock()
	v.parts[part] = etag
	if part == 0 {
		v.head = head[:h]
	}
	li.mu.Unlock()
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
}

func (li *LinkedIn) finalizeVideo(w http.ResponseWriter, r *http.Request, t *netToken) {
	var req struct {
		FinalizeUploadRequest struct {
			Video           string   `json:"video"`
			UploadToken     string   `json:"uploadToken"`
			UploadedPartIDs []string `json:"uploadedPartIds"`
		} `json:"finalizeUploadRequest"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&req); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	in := req.FinalizeUploadRequest
	li.mu.Lock()
	defer li.mu.Unlock()
	v := li.videos[in.Video]
	switch {
	case v == nil || !li.mayPostAs(t.user, v.owner):
		liError(w, http.StatusNotFound, "NOT_FOUND", "Video "+in.Video+" does not exist")
		return
	case len(in.UploadedPartIDs) != len(v.parts):
		liError(w, http.StatusBadRequest, "", fmt.Sprintf("uploadedPartIds has %d ids; the upload has %d parts", len(in.UploadedPartIDs), len(v.parts)))
		return
	}
	for i, id := range in.UploadedPartIDs {
		if v.parts[i] == "" || v.parts[i] != id {
			liError(w, http.StatusBadRequest, "", fmt.Sprintf("part %d was not uploaded, or its id is not %q", i, id))
			return
		}
	}
	if v.finalized.IsZero() {
		v.finalized = li.s.now()
		v.ready = v.finalized.Add(li.videoProcessing)
	}
	w.WriteHeader(http.StatusOK)
}

func (li *LinkedIn) getVideo(w http.ResponseWriter, r *http.Request, t *netToken) {
	urn, _ := url.PathUnescape(r.PathValue("urn"))
	li.mu.Lock()
	defer li.mu.Unlock()
	v := li.videos[urn]
	if v == nil || !li.mayPostAs(t.user, v.owner) {
		liError(w, http.StatusNotFound, "NOT_FOUND", "Video "+urn+" does not exist")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": v.urn, "owner": v.owner, "status": v.status(li.s.now())})
}
