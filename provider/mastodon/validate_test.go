package mastodon_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
	"github.com/heraldhq/herald/provider/mastodon"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	l := mastodon.New(nil).Limits()
	want := []string{"image/gif", "image/jpeg", "image/png", "image/webp"}
	got := slices.Sorted(slices.Values(l.ImageTypes))
	if l.MaxTextChars != 500 || l.MaxMedia != 4 || l.MaxImageBytes != 16<<20 || !slices.Equal(got, want) {
		t.Errorf("Limits() = %+v", l)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	img := func(mimeType string, size int64) provider.Media {
		return provider.Media{FileName: "x", MimeType: mimeType, Size: size}
	}
	link := "https://example.com/" + strings.Repeat("x", 300)
	tests := []struct {
		name  string
		text  string
		media []provider.Media
		want  []string // "field: message fragment"
	}{
		{"short text", "Hello", nil, nil},
		{"exactly 500", strings.Repeat("a", 500), nil, nil},
		{"501", strings.Repeat("a", 501), nil, []string{"text: is 501 characters long; Mastodon allows 500"}},
		{"runes not bytes", strings.Repeat("é", 500), nil, nil},
		{"emoji are one character", strings.Repeat("👩‍💻", 500), nil, nil},
		{"links count 23", strings.Repeat("a", 476) + " " + link, nil, nil},
		{"links count 23, not less", strings.Repeat("a", 477) + " https://a.io", nil, []string{"text: is 501 characters"}},
		{"empty without media", "  ", nil, []string{"text: must not be empty"}},
		{"empty with media", "", []provider.Media{img("image/png", 10)}, nil},
		{"four images", "x", []provider.Media{img("image/png", 1), img("image/jpeg", 1), img("image/gif", 1), img("image/webp", 1)}, nil},
		{"five images", "x", []provider.Media{img("image/png", 1), img("image/png", 1), img("image/png", 1), img("image/png", 1), img("image/png", 1)},
			[]string{"media: has 5 attachments; Mastodon allows 4"}},
		{"type with parameters", "x", []provider.Media{img("IMAGE/JPEG; charset=binary", 1)}, nil},
		{"unsupported type", "x", []provider.Media{img("image/png", 1), img("image/bmp", 1)}, []string{`media[1]: is of type "image/bmp"`}},
		{"too large", "x", []provider.Media{img("image/png", 16<<20+1)}, []string{"media[0]: is 16.0 MB; Mastodon allows images up to 16.0 MB"}},
		{"empty file", "x", []provider.Media{img("image/png", 0)}, []string{"media[0]: is empty"}},
		{"long description", "x", []provider.Media{{MimeType: "image/png", Size: 1, Description: strings.Repeat("d", 1501)}},
			[]string{"media[0]: has a description longer than 1500"}},
		{"several problems", strings.Repeat("a", 600), []provider.Media{img("video/webm", 1)},
			[]string{"text: is 600", "media[0]: is of type"}},
	}
	p := mastodon.New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := p.Validate(tt.text, tt.media)
			if len(got) != len(tt.want) {
				t.Fatalf("Validate = %+v; want %d violations %v", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if s := got[i].Field + ": " + got[i].Message; !strings.HasPrefix(s, w) {
					t.Errorf("violation %d = %q; want it to start with %q", i, s, w)
				}
			}
		})
	}
}

func TestNormalizeInstanceURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, problem string
	}{
		{"mastodon.social", "https://mastodon.social", ""},
		{"  Mastodon.Social/ ", "https://mastodon.social", ""},
		{"https://fosstodon.org", "https://fosstodon.org", ""},
		{"http://localhost:3000", "http://localhost:3000", ""},
		{"HTTPS://example.com:8443/", "https://example.com:8443", ""},
		{"https://[2001:db8::1]", "https://[2001:db8::1]", ""},
		{"", "", "must not be empty"},
		{"ftp://example.com", "", "must be an https"},
		{"https://", "", "must name a server"},
		{"https://user:pw@example.com", "", "user name or password"},
		{"https://example.com/@alice", "", "without a path"},
		{"https://example.com/?x=1", "", "without ? or #"},
		{"https://example.com/#top", "", "without ? or #"},
		{"https://example.com:99999", "", "invalid port"},
		{"https://exa mple.com", "", "not a valid address"},
		{"https://ex_ample.com", "", "not allowed"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, err := mastodon.NormalizeInstanceURL(tt.in)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Errorf("= %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || !strings.Contains(e.Fields["instance_url"], tt.problem) {
				t.Errorf("err = %v; want instance_url field error containing %q", err, tt.problem)
			}
		})
	}
}
