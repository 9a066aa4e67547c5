package simnet

import (
	"html"
	"strings"
	"time"
)

// The JSON shapes below follow Mastodon's entities (Account, Status,
// MediaAttachment, Application, Token, Instance), with the fields a client
// reads; fields simnet has nothing to say about are left out rather than
// faked.

type accountJSON struct {
	ID             string         `json:"id"`
	Username       string         `json:"username"`
	Acct           string         `json:"acct"`
	DisplayName    string         `json:"display_name"`
	Locked         bool           `json:"locked"`
	Bot            bool           `json:"bot"`
	Group          bool           `json:"group"`
	CreatedAt      string         `json:"created_at"`
	Note           string         `json:"note"`
	URL            string         `json:"url"`
	URI            string         `json:"uri"`
	Avatar         string         `json:"avatar"`
	AvatarStatic   string         `json:"avatar_static"`
	Header         string         `json:"header"`
	HeaderStatic   string         `json:"header_static"`
	FollowersCount int            `json:"followers_count"`
	FollowingCount int            `json:"following_count"`
	StatusesCount  int64          `json:"statuses_count"`
	Emojis         []struct{}     `json:"emojis"`
	Fields         []struct{}     `json:"fields"`
	Source         *accountSource `json:"source,omitempty"`
}

type accountSource struct {
	Privacy   string     `json:"privacy"`
	Sensitive bool       `json:"sensitive"`
	Language  string     `json:"language"`
	Note      string     `json:"note"`
	Fields    []struct{} `json:"fields"`
}

type statusJSON struct {
	ID                 string       `json:"id"`
	CreatedAt          string       `json:"created_at"`
	InReplyToID        *string      `json:"in_reply_to_id"`
	InReplyToAccountID *string      `json:"in_reply_to_account_id"`
	Sensitive          bool         `json:"sensitive"`
	SpoilerText        string       `json:"spoiler_text"`
	Visibility         string       `json:"visibility"`
	Language           *string      `json:"language"`
	URI                string       `json:"uri"`
	URL                string       `json:"url"`
	RepliesCount       int          `json:"replies_count"`
	ReblogsCount       int          `json:"reblogs_count"`
	FavouritesCount    int          `json:"favourites_count"`
	Content            string       `json:"content"`
	Reblog             *struct{}    `json:"reblog"`
	Application        *appRef      `json:"application,omitempty"`
	Account            accountJSON  `json:"account"`
	MediaAttachments   []*mediaJSON `json:"media_attachments"`
	Mentions           []struct{}   `json:"mentions"`
	Tags               []struct{}   `json:"tags"`
	Emojis             []struct{}   `json:"emojis"`
	Card               *struct{}    `json:"card"`
	Poll               *struct{}    `json:"poll"`
}

type appRef struct {
	Name    string  `json:"name"`
	Website *string `json:"website"`
}

type mediaJSON struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	URL         *string    `json:"url"`
	PreviewURL  string     `json:"preview_url"`
	RemoteURL   *string    `json:"remote_url"`
	Meta        *mediaMeta `json:"meta"`
	Description *string    `json:"description"`
	Blurhash    *string    `json:"blurhash"`
}

type mediaMeta struct {
	Original *mediaDims `json:"original,omitempty"`
}

type mediaDims struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Size   string  `json:"size"`
	Aspect float64 `json:"aspect"`
}

type applicationJSON struct {
	ID                    string   `json:"id"`
	Name                  string   `json:"name"`
	Website               *string  `json:"website"`
	Scopes                []string `json:"scopes"`
	RedirectURI           string   `json:"redirect_uri"`
	RedirectURIs          []string `json:"redirect_uris"`
	ClientID              string   `json:"client_id"`
	ClientSecret          string   `json:"client_secret"`
	ClientSecretExpiresAt int      `json:"client_secret_expires_at"`
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	CreatedAt   int64  `json:"created_at"`
	// Only for expiring tokens (Options.AccessTokenTTL).
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// timeJSON formats an instant as Mastodon does: UTC, milliseconds.
func timeJSON(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// contentHTML renders plain status text as Mastodon stores it: escaped,
// paragraphs for blank lines, <br /> for single line breaks.
func contentHTML(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var b strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br />"))
		b.WriteString("</p>")
	}
	return b.String()
}
