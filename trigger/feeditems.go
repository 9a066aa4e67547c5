package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/heraldhq/herald/gen/herald/events/v1"
)

// Bounds on what one item carries into a feed.item event.
const (
	maxItemKeyLen    = 200
	maxSummaryBytes  = 2000
	maxTitleBytes    = 1000
	maxItemURLLen    = 2048
	maxCategories    = 20
	maxCategoryBytes = 100
	maxAuthorBytes   = 200
	// maxFeedItems is the most items of one document a poll looks at, in
	// document order; feeds list far fewer.
	maxFeedItems = 1000
)

// feedEntry is an item of a fetched document with its identity.
type feedEntry struct {
	key       string
	item      *gofeed.Item
	published time.Time // zero when the item has no date
}

// entriesOf returns the identifiable items of a document, each key once
// (the first occurrence wins), newest first: by date when every item has
// one, else in document order (feeds list their newest items first).
func entriesOf(doc *gofeed.Feed) []feedEntry {
	items := doc.Items
	if len(items) > maxFeedItems {
		items = items[:maxFeedItems]
	}
	out := make([]feedEntry, 0, len(items))
	seen := map[string]bool{}
	dated := true
	for _, it := range items {
		if it == nil {
			continue
		}
		k := itemKey(it)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		en := feedEntry{key: k, item: it, published: itemTime(it)}
		dated = dated && !en.published.IsZero()
		out = append(out, en)
	}
	if dated {
		slices.SortStableFunc(out, func(a, b feedEntry) int { return b.published.Compare(a.published) })
	}
	return out
}

func itemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil:
		return it.UpdatedParsed.UTC()
	}
	return time.Time{}
}

// itemKey identifies an item within its feed, stably across polls: its
// guid (RSS) or id (Atom), else its link, else a hash of its title and
// date (else of its content). Long values are hashed so keys stay small.
// "" means the item has nothing to know it by again.
func itemKey(it *gofeed.Item) string {
	if g := strings.TrimSpace(it.GUID); g != "" {
		return boundedKey("guid:", g)
	}
	if l := strings.TrimSpace(it.Link); l != "" {
		return boundedKey("link:", l)
	}
	title := strings.TrimSpace(it.Title)
	date := strings.TrimSpace(it.Published)
	if date == "" {
		date = strings.TrimSpace(it.Updated)
	}
	if t := itemTime(it); !t.IsZero() {
		date = t.Format(time.RFC3339Nano)
	}
	if title != "" || date != "" {
		return hashedKey("title-date:", title+"\x00"+date)
	}
	if body := strings.TrimSpace(it.Description + it.Content); body != "" {
		return hashedKey("content:", body)
	}
	return ""
}

func boundedKey(kind, v string) string {
	if len(kind)+len(v) <= maxItemKeyLen && utf8.ValidString(v) {
		return kind + v
	}
	return hashedKey(kind, v)
}

func hashedKey(kind, v string) string {
	sum := sha256.Sum256([]byte(v))
	return kind + "sha256:" + hex.EncodeToString(sum[:])
}

// event is the feed.item event of an entry found by a poll of f at now;
// base is the feed's URL, against which relative links resolve.
func (en feedEntry) event(f feed, base *url.URL, now time.Time) *eventsv1.FeedItem {
	it := en.item
	ev := &eventsv1.FeedItem{
		TenantId: f.tenantID, WorkspaceId: f.workspaceID, FeedId: f.id, ItemKey: en.key,
		Title:    truncateUTF8(collapseSpace(plainText(it.Title)), maxTitleBytes),
		Link:     absoluteURL(base, it.Link),
		ImageUrl: absoluteURL(base, itemImage(it)),
		FoundAt:  timestamppb.New(now),
	}
	summary := it.Description
	if strings.TrimSpace(summary) == "" {
		summary = it.Content
	}
	ev.Summary = truncateUTF8(collapseSpace(plainText(summary)), maxSummaryBytes)
	if len(it.Authors) > 0 && it.Authors[0] != nil {
		ev.Author = truncateUTF8(strings.TrimSpace(it.Authors[0].Name), maxAuthorBytes)
	}
	for _, c := range it.Categories {
		c = truncateUTF8(strings.TrimSpace(c), maxCategoryBytes)
		if c != "" && !slices.Contains(ev.Categories, c) && len(ev.Categories) < maxCategories {
			ev.Categories = append(ev.Categories, c)
		}
	}
	if !en.published.IsZero() {
		ev.PublishedAt = timestamppb.New(en.published)
	}
	return ev
}

// itemImage is the item's first image: its own image, an image enclosure,
// or a Media RSS content or thumbnail.
func itemImage(it *gofeed.Item) string {
	if it.Image != nil && it.Image.URL != "" {
		return it.Image.URL
	}
	for _, e := range it.Enclosures {
		if e != nil && strings.HasPrefix(e.Type, "image/") && e.URL != "" {
			return e.URL
		}
	}
	media := it.Extensions["media"]
	for _, c := range media["content"] {
		if u := c.Attrs["url"]; u != "" && (c.Attrs["medium"] == "image" || strings.HasPrefix(c.Attrs["type"], "image/")) {
			return u
		}
	}
	for _, c := range media["thumbnail"] {
		if u := c.Attrs["url"]; u != "" {
			return u
		}
	}
	return ""
}

// absoluteURL resolves ref against base and keeps it only if it is an
// http or https URL of a sane length.
func absoluteURL(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	u = base.ResolveReference(u)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	s := u.String()
	if len(s) > maxItemURLLen {
		return ""
	}
	return s
}

// blockTags end a run of text: their content is not glued to the next.
var blockTags = map[string]bool{
	"p": true, "br": true, "div": true, "li": true, "ul": true, "ol": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "tr": true, "td": true, "th": true,
	"table": true, "hr": true, "section": true, "article": true, "figure": true, "figcaption": true,
}

// plainText returns the text of an HTML fragment (what a description
// usually is), without tags, scripts or styles, entities decoded.
func plainText(fragment string) string {
	if !strings.ContainsAny(fragment, "<&") {
		return fragment
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(fragment))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if tag == "script" || tag == "style" {
				if tt == html.SelfClosingTagToken {
					continue
				}
				if tt == html.EndTagToken {
					skip = max(skip-1, 0)
				} else {
					skip++
				}
				continue
			}
			if blockTags[tag] {
				b.WriteByte('\n')
			}
		}
	}
}

// collapseSpace turns every run of white space into one space.
func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}
