package simnet

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/heraldhq/herald/provider/mastodon/charcount"
)

// Version is what simnet reports as its Mastodon version: the API level it
// imitates, marked so a client can tell it from a real server.
const Version = "4.3.0+simnet"

type statusesConfig struct {
	MaxCharacters            int `json:"max_characters"`
	MaxMediaAttachments      int `json:"max_media_attachments"`
	CharactersReservedPerURL int `json:"characters_reserved_per_url"`
}

type mediaConfig struct {
	SupportedMimeTypes  []string `json:"supported_mime_types"`
	DescriptionLimit    int      `json:"description_limit"`
	ImageSizeLimit      int64    `json:"image_size_limit"`
	ImageMatrixLimit    int      `json:"image_matrix_limit"`
	VideoSizeLimit      int64    `json:"video_size_limit"`
	VideoFrameRateLimit int      `json:"video_frame_rate_limit"`
	VideoMatrixLimit    int      `json:"video_matrix_limit"`
}

type instanceConfig struct {
	Statuses         statusesConfig `json:"statuses"`
	MediaAttachments mediaConfig    `json:"media_attachments"`
}

func (s *Server) instanceConfig() instanceConfig {
	types := make([]string, 0, len(mediaTypes))
	for t := range mediaTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	return instanceConfig{
		Statuses: statusesConfig{
			MaxCharacters:            s.opts.MaxChars,
			MaxMediaAttachments:      s.opts.MaxMedia,
			CharactersReservedPerURL: charcount.URLLength,
		},
		MediaAttachments: mediaConfig{
			SupportedMimeTypes:  types,
			DescriptionLimit:    maxDescriptionChars,
			ImageSizeLimit:      s.opts.MaxImageBytes,
			ImageMatrixLimit:    33177600, // 7680x4320, Mastodon's default
			VideoSizeLimit:      s.opts.MaxVideoBytes,
			VideoFrameRateLimit: 120,
			VideoMatrixLimit:    8294400, // 3840x2160
		},
	}
}

func (s *Server) domain(r *http.Request) string {
	if u, err := url.Parse(s.baseURL(r)); err == nil {
		return u.Host
	}
	return r.Host
}

// instanceV1 answers GET /api/v1/instance (deprecated in Mastodon 4, still
// read by older clients).
func (s *Server) instanceV1(w http.ResponseWriter, r *http.Request, _ *token) {
	s.mu.RLock()
	users := len(s.accounts)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"uri":               s.domain(r),
		"title":             s.opts.Title,
		"short_description": "A simulated Mastodon server for testing.",
		"description":       "A simulated Mastodon server for testing.",
		"email":             "",
		"version":           Version,
		"urls":              map[string]string{},
		"stats":             map[string]int64{"user_count": int64(users), "status_count": s.stats.statuses.Load(), "domain_count": 1},
		"languages":         []string{"en"},
		"registrations":     false,
		"approval_required": false,
		"invites_enabled":   false,
		"configuration":     s.instanceConfig(),
		"rules":             []struct{}{},
	})
}

// instanceV2 answers GET /api/v2/instance.
func (s *Server) instanceV2(w http.ResponseWriter, r *http.Request, _ *token) {
	writeJSON(w, http.StatusOK, map[string]any{
		"domain":        s.domain(r),
		"title":         s.opts.Title,
		"version":       Version,
		"source_url":    "",
		"description":   "A simulated Mastodon server for testing.",
		"languages":     []string{"en"},
		"configuration": s.instanceConfig(),
		"registrations": map[string]any{"enabled": false, "approval_required": false, "message": nil},
		"contact":       map[string]any{"email": "", "account": nil},
		"rules":         []struct{}{},
	})
}
