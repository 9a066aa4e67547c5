package graph

import (
	"fmt"
	"slices"

	"github.com/rivo/uniseg"

	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/internal/validate"
)

// ImageRules are what a Meta network takes as one image.
type ImageRules struct {
	// Network names the network in messages ("Instagram").
	Network string
	// Types are the MIME types it takes; Takes says so to a user, after
	// the network's name ("publishes JPEG images only").
	Types []string
	Takes string
	// MaxBytes is the largest image.
	MaxBytes int64
	// MaxAltText is the longest description in graphemes; 0: the network
	// takes none, and it is not checked.
	MaxAltText int
	// VideoTypes and MaxVideoBytes are the videos it takes; none when
	// empty. A video's description is not checked: the networks that take
	// alt text on images do not all take it on videos.
	VideoTypes    []string
	MaxVideoBytes int64
}

// IsVideo reports whether m is one of the video types r takes.
func (r ImageRules) IsVideo(m provider.Media) bool {
	return slices.Contains(r.VideoTypes, validate.MediaType(m))
}

// CheckImage checks media[i] against r: its type, then its size, then its
// description; it returns at most one violation, on field "media[i]".
func CheckImage(i int, m provider.Media, r ImageRules) []provider.Violation {
	field := fmt.Sprintf("media[%d]", i)
	video := r.IsVideo(m)
	switch {
	case !video && !slices.Contains(r.Types, validate.MediaType(m)):
		return []provider.Violation{{Field: field, Message: fmt.Sprintf("is of type %q; %s %s", m.MimeType, r.Network, r.Takes)}}
	case m.Size <= 0:
		return []provider.Violation{{Field: field, Message: "is empty"}}
	case video && m.Size > r.MaxVideoBytes:
		return []provider.Violation{{Field: field, Message: fmt.Sprintf("is %.1f MB; %s allows videos up to %.0f MB", float64(m.Size)/(1<<20), r.Network, float64(r.MaxVideoBytes)/(1<<20))}}
	case video:
		return nil
	case m.Size > r.MaxBytes:
		return []provider.Violation{{Field: field, Message: fmt.Sprintf("is %.1f MB; %s allows images up to %.0f MB", float64(m.Size)/(1<<20), r.Network, float64(r.MaxBytes)/(1<<20))}}
	case r.MaxAltText > 0 && uniseg.GraphemeClusterCount(m.Description) > r.MaxAltText:
		return []provider.Violation{{Field: field, Message: fmt.Sprintf("has a description longer than %d characters", r.MaxAltText)}}
	}
	return nil
}
