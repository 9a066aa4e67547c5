package simnet

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"
)

// The Bluesky simulation: the subset of a PDS's XRPC API that a client
// posting for an account uses, under the real paths (/xrpc/<method>), with
// the real error names and the behaviours a client must survive: access
// tokens that expire, refresh tokens that rotate, a 500 for a record key
// that is already taken (what the reference PDS answers), and write rate
// limits with RateLimit-* headers.

// Bluesky defaults, which a zero BlueskyOptions reproduces.
const (
	DefaultBlueskyAccessTTL    = 2 * time.Hour
	DefaultBlueskyRefreshTTL   = 90 * 24 * time.Hour
	DefaultBlueskyWritePoints  = 5000
	DefaultBlueskyWriteWindow  = time.Hour
	DefaultBlueskyMaxBlobBytes = 5 << 20
	blueskyMaxImageBytes       = 1_000_000
	blueskyMaxGraphemes        = 300
)

// BlueskyOptions configure the Bluesky simulation.
type BlueskyOptions struct {
	// AccessTTL and RefreshTTL are how long session tokens last (default
	// two hours and 90 days, as on the reference PDS).
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// WritePoints is the write budget per account per WriteWindow (default
	// 5000 points an hour; a create costs 3, a delete 1). Negative
	// disables the limit and its headers.
	WritePoints int
	WriteWindow time.Duration
	// MaxBlobBytes limits uploadBlob (default 5 MiB); images in a post must
	// in any case be at most 1,000,000 bytes.
	MaxBlobBytes int64
}

func (o BlueskyOptions) withDefaults() BlueskyOptions {
	if o.AccessTTL <= 0 {
		o.AccessTTL = DefaultBlueskyAccessTTL
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = DefaultBlueskyRefreshTTL
	}
	if o.WritePoints == 0 {
		o.WritePoints = DefaultBlueskyWritePoints
	}
	if o.WriteWindow <= 0 {
		o.WriteWindow = DefaultBlueskyWriteWindow
	}
	if o.MaxBlobBytes <= 0 {
		o.MaxBlobBytes = DefaultBlueskyMaxBlobBytes
	}
	return o
}

type bskyAccount struct {
	did, handle, password string
	writes                bucket
	blobs                 map[string]bskyBlob // by cid
	records               map[string]*bskyRecord
	disabled              string // an XRPC error name once taken down
}

type bskyBlob struct {
	mimeType string
	size     int
}

type bskyRecord struct {
	rkey, cid string
	value     json.RawMessage
	createdAt time.Time
}

type bskyToken struct {
	did     string
	refresh bool
	expires time.Time
}

// bluesky is the simulation's state; its own mutex, never held with s.mu.
type bluesky struct {
	opts     BlueskyOptions
	mu       sync.Mutex
	accounts map[string]*bskyAccount // by DID
	handles  map[string]*bskyAccount
	tokens   map[string]bskyToken
	order    []BlueskyPost
}

// BlueskyPost is a post record the simulation holds, as
// GET /_simnet/bluesky/posts lists it.
type BlueskyPost struct {
	URI       string          `json:"uri"`
	CID       string          `json:"cid"`
	DID       string          `json:"did"`
	Handle    string          `json:"handle"`
	RKey      string          `json:"rkey"`
	Text      string          `json:"text"`
	Record    json.RawMessage `json:"record"`
	CreatedAt time.Time       `json:"created_at"`
	Deleted   bool            `json:"deleted,omitempty"`
}

func (s *Server) mountBluesky(m *http.ServeMux) {
	s.bsky = &bluesky{
		opts:     s.opts.Bluesky.withDefaults(),
		accounts: map[string]*bskyAccount{},
		handles:  map[string]*bskyAccount{},
		tokens:   map[string]bskyToken{},
	}
	m.HandleFunc("POST /xrpc/com.atproto.server.createSession", s.bskyCreateSession)
	m.HandleFunc("POST /xrpc/com.atproto.server.refreshSession", s.bskyRefreshSession)
	m.HandleFunc("GET /xrpc/com.atproto.server.getSession", s.bskyAuth(s.bskyGetSession))
	m.HandleFunc("GET /xrpc/com.atproto.identity.resolveHandle", s.bskyResolveHandle)
	m.HandleFunc("POST /xrpc/com.atproto.repo.uploadBlob", s.bskyAuth(s.bskyUploadBlob))
	m.HandleFunc("POST /xrpc/com.atproto.repo.createRecord", s.bskyAuth(s.bskyCreateRecord))
	m.HandleFunc("GET /xrpc/com.atproto.repo.getRecord", s.bskyGetRecord)
	m.HandleFunc("POST /xrpc/com.atproto.repo.deleteRecord", s.bskyAuth(s.bskyDeleteRecord))
	m.HandleFunc("/xrpc/", func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, http.StatusNotImplemented, "MethodNotImplemented", "Method Not Implemented")
	})
	m.HandleFunc("POST /_simnet/bluesky/accounts", s.controlBlueskyAccount)
	m.HandleFunc("GET /_simnet/bluesky/posts", s.controlBlueskyPosts)
}

func xrpcError(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]string{"error": name, "message": msg})
}

var bskyHandleRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateBlueskyAccount creates an account with handle ("alice.test") and
// password, or finds the existing one (whose password it then sets), and
// returns its DID. It panics on a handle that is not a domain name, since
// it is meant for test setup; POST /_simnet/bluesky/accounts answers 400.
func (s *Server) CreateBlueskyAccount(handle, password string) (did string) {
	handle = strings.ToLower(strings.TrimPrefix(handle, "@"))
	if !bskyHandleRE.MatchString(handle) {
		panic(fmt.Sprintf("simnet: CreateBlueskyAccount(%q): not a valid handle", handle))
	}
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.handles[handle]; ok {
		a.password = password
		return a.did
	}
	sum := sha256.Sum256([]byte("simnet did\n" + handle))
	a := &bskyAccount{
		did:      "did:plc:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:15])),
		handle:   handle,
		password: password,
		blobs:    map[string]bskyBlob{},
		records:  map[string]*bskyRecord{},
	}
	b.accounts[a.did] = a
	b.handles[handle] = a
	return a.did
}

// TakedownBlueskyAccount makes every call with the account's sessions fail
// with AccountTakedown, as when its PDS takes it down.
func (s *Server) TakedownBlueskyAccount(did string) {
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.accounts[did]; ok {
		a.disabled = "AccountTakedown"
	}
}

// BlueskyPosts returns the post records created so far, oldest first,
// deleted ones marked.
func (s *Server) BlueskyPosts() []BlueskyPost {
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]BlueskyPost, len(b.order))
	copy(out, b.order)
	return out
}

// jwt makes a token shaped like the PDS's (three base64url parts, the exp
// claim readable); only this server's memory of it makes it valid.
func (b *bluesky) jwt(did string, refresh bool, now time.Time) (string, time.Time) {
	ttl, scope := b.opts.AccessTTL, "com.atproto.access"
	if refresh {
		ttl, scope = b.opts.RefreshTTL, "com.atproto.refresh"
	}
	exp := now.Add(ttl)
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"at+jwt","alg":"HS256"}`))
	claims, _ := json.Marshal(map[string]any{"scope": scope, "sub": did, "iat": now.Unix(), "exp": exp.Unix(), "jti": randomToken()[:16]})
	tok := head + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + randomToken()
	b.tokens[tok] = bskyToken{did: did, refresh: refresh, expires: exp}
	return tok, exp
}

// session answers createSession and refreshSession; b.mu is held.
func (b *bluesky) session(w http.ResponseWriter, a *bskyAccount, now time.Time) {
	access, _ := b.jwt(a.did, false, now)
	refresh, _ := b.jwt(a.did, true, now)
	writeJSON(w, http.StatusOK, map[string]any{
		"accessJwt": access, "refreshJwt": refresh, "did": a.did, "handle": a.handle, "active": true,
	})
}

func (s *Server) bskyCreateSession(w http.ResponseWriter, r *http.Request) {
	var in struct{ Identifier, Password string }
	if json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in) != nil || in.Identifier == "" || in.Password == "" {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Input must have the properties \"identifier\" and \"password\"")
		return
	}
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	id := strings.ToLower(in.Identifier)
	a := b.handles[id]
	if a == nil {
		a = b.accounts[in.Identifier]
	}
	if a == nil || a.password != in.Password {
		xrpcError(w, http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
		return
	}
	if a.disabled != "" {
		xrpcError(w, http.StatusUnauthorized, a.disabled, "Account has been taken down")
		return
	}
	b.session(w, a, s.now())
}

// bearer checks the request's token, answering as the PDS does when it is
// missing (401), unknown or of the wrong kind (400 InvalidToken), or
// expired (400 ExpiredToken). b.mu is held.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request, refresh bool) (*bskyAccount, string, bool) {
	b := s.bsky
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		xrpcError(w, http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required")
		return nil, "", false
	}
	t, known := b.tokens[tok]
	switch {
	case !known:
		xrpcError(w, http.StatusBadRequest, "InvalidToken", "Token could not be verified")
		return nil, "", false
	case t.refresh != refresh:
		xrpcError(w, http.StatusBadRequest, "InvalidToken", "Bad token scope")
		return nil, "", false
	case !s.now().Before(t.expires):
		xrpcError(w, http.StatusBadRequest, "ExpiredToken", "Token has expired")
		return nil, "", false
	}
	a := b.accounts[t.did]
	if a == nil {
		xrpcError(w, http.StatusBadRequest, "InvalidToken", "Token could not be verified")
		return nil, "", false
	}
	if a.disabled != "" {
		xrpcError(w, http.StatusBadRequest, a.disabled, "Account has been taken down")
		return nil, "", false
	}
	return a, tok, true
}

func (s *Server) bskyRefreshSession(w http.ResponseWriter, r *http.Request) {
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	a, tok, ok := s.bearer(w, r, true)
	if !ok {
		return
	}
	delete(b.tokens, tok) // refresh tokens are used once
	b.session(w, a, s.now())
}

type bskyHandler func(w http.ResponseWriter, r *http.Request, a *bskyAccount)

// bskyAuth runs h with the bearer's account, with s.bsky.mu held.
func (s *Server) bskyAuth(h bskyHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := s.bsky
		b.mu.Lock()
		defer b.mu.Unlock()
		a, _, ok := s.bearer(w, r, false)
		if !ok {
			return
		}
		h(w, r, a)
	}
}

func (s *Server) bskyGetSession(w http.ResponseWriter, _ *http.Request, a *bskyAccount) {
	writeJSON(w, http.StatusOK, map[string]any{"did": a.did, "handle": a.handle, "active": true})
}

func (s *Server) bskyResolveHandle(w http.ResponseWriter, r *http.Request) {
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.handles[strings.ToLower(r.URL.Query().Get("handle"))]
	if a == nil {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Unable to resolve handle")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"did": a.did})
}

// spend takes points from the account's write budget and sets the
// RateLimit-* headers; it answers 429 and returns false when they are not
// there. b.mu is held.
func (s *Server) spend(w http.ResponseWriter, a *bskyAccount, points int) bool {
	o := s.bsky.opts
	if o.WritePoints < 0 {
		return true
	}
	now := s.now()
	bk := &a.writes
	start := now.Truncate(o.WriteWindow)
	if !bk.start.Equal(start) {
		bk.start, bk.used = start, 0
	}
	reset := start.Add(o.WriteWindow)
	ok := bk.used+points <= o.WritePoints
	if ok {
		bk.used += points
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(o.WritePoints))
	h.Set("RateLimit-Remaining", strconv.Itoa(o.WritePoints-bk.used))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", o.WritePoints, int(o.WriteWindow.Seconds())))
	if !ok {
		s.stats.rateLimited.Add(1)
		xrpcError(w, http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
	}
	return ok
}

// cid makes a CIDv1 (sha2-256, base32) of b with the given codec: 0x55
// for blobs, 0x71 (dag-cbor) for records.
func cid(codec byte, b []byte) string {
	sum := sha256.Sum256(b)
	raw := append([]byte{0x01, codec, 0x12, 0x20}, sum[:]...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
}

func (s *Server) bskyUploadBlob(w http.ResponseWriter, r *http.Request, a *bskyAccount) {
	max := s.bsky.opts.MaxBlobBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "could not read the blob")
		return
	}
	if int64(len(body)) > max {
		xrpcError(w, http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request entity too large")
		return
	}
	mt := r.Header.Get("Content-Type")
	if mt == "" || mt == "*/*" {
		mt = http.DetectContentType(body)
	}
	c := cid(0x55, body)
	a.blobs[c] = bskyBlob{mimeType: mt, size: len(body)}
	writeJSON(w, http.StatusOK, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]string{"$link": c}, "mimeType": mt, "size": len(body),
	}})
}

// bskyPost is the part of an app.bsky.feed.post the simulation checks.
type bskyPost struct {
	Type      string `json:"$type"`
	Text      string `json:"text"`
	CreatedAt string `json:"createdAt"`
	Embed     *struct {
		Type   string `json:"$type"`
		Images []struct {
			Alt   *string `json:"alt"`
			Image struct {
				Ref struct {
					Link string `json:"$link"`
				} `json:"ref"`
				Size int `json:"size"`
			} `json:"image"`
		} `json:"images"`
	} `json:"embed"`
	Facets []struct {
		Index struct {
			ByteStart int `json:"byteStart"`
			ByteEnd   int `json:"byteEnd"`
		} `json:"index"`
	} `json:"facets"`
	Reply *struct {
		Root   struct{ URI, CID string } `json:"root"`
		Parent struct{ URI, CID string } `json:"parent"`
	} `json:"reply"`
}

var bskyTIDRE = regexp.MustCompile(`^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$`)

// checkPost says what is wrong with a post record, as the PDS's lexicon
// validation would, or "". b.mu is held.
func (b *bluesky) checkPost(a *bskyAccount, raw json.RawMessage) string {
	var p bskyPost
	if err := json.Unmarshal(raw, &p); err != nil {
		return "Invalid app.bsky.feed.post record: " + err.Error()
	}
	if _, err := time.Parse(time.RFC3339Nano, p.CreatedAt); err != nil {
		return "Invalid app.bsky.feed.post record: Record/createdAt must be an valid atproto datetime"
	}
	if uniseg.GraphemeClusterCount(p.Text) > blueskyMaxGraphemes {
		return "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
	}
	for i, f := range p.Facets {
		if f.Index.ByteStart < 0 || f.Index.ByteEnd > len(p.Text) || f.Index.ByteStart >= f.Index.ByteEnd {
			return fmt.Sprintf("Invalid app.bsky.feed.post record: Record/facets/%d/index is outside the text", i)
		}
	}
	if p.Embed != nil {
		if len(p.Embed.Images) > 4 {
			return "Invalid app.bsky.feed.post record: Record/embed/images must not have more than 4 elements"
		}
		for i, img := range p.Embed.Images {
			blob, ok := a.blobs[img.Image.Ref.Link]
			switch {
			case img.Alt == nil:
				return fmt.Sprintf("Invalid app.bsky.feed.post record: Record/embed/images/%d must have the property \"alt\"", i)
			case !ok:
				return "Could not find blob: " + img.Image.Ref.Link
			case blob.size > blueskyMaxImageBytes:
				return fmt.Sprintf("Invalid app.bsky.feed.post record: Record/embed/images/%d/image file too large. %d bytes. Maximum is 1000000 bytes.", i, blob.size)
			}
		}
	}
	if p.Reply != nil && (p.Reply.Root.CID == "" || p.Reply.Parent.CID == "" || !strings.HasPrefix(p.Reply.Parent.URI, "at://")) {
		return "Invalid app.bsky.feed.post record: Record/reply must hold strong refs"
	}
	return ""
}

func (s *Server) bskyCreateRecord(w http.ResponseWriter, r *http.Request, a *bskyAccount) {
	var in struct {
		Repo       string          `json:"repo"`
		Collection string          `json:"collection"`
		RKey       string          `json:"rkey"`
		Validate   *bool           `json:"validate"`
		Record     json.RawMessage `json:"record"`
	}
	if json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in) != nil || in.Repo == "" || in.Collection == "" || len(in.Record) == 0 {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Input must have the properties \"repo\", \"collection\" and \"record\"")
		return
	}
	if in.Repo != a.did && in.Repo != a.handle {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Invalid repo: not the session's account")
		return
	}
	if in.Collection != "app.bsky.feed.post" {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "simnet stores only app.bsky.feed.post records")
		return
	}
	b := s.bsky
	validate := in.Validate == nil || *in.Validate
	if in.RKey != "" && validate && !bskyTIDRE.MatchString(in.RKey) {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Invalid app.bsky.feed.post record: Record key "+in.RKey+" does not match the type tid")
		return
	}
	if validate {
		if msg := b.checkPost(a, in.Record); msg != "" {
			xrpcError(w, http.StatusBadRequest, "InvalidRequest", msg)
			return
		}
	}
	if !s.spend(w, a, 3) {
		return
	}
	if in.RKey == "" {
		in.RKey = simTID(s.now(), len(b.order))
	}
	if _, taken := a.records[in.RKey]; taken {
		// The reference PDS fails a duplicate record key in its storage
		// layer and answers a bare 500.
		s.stats.duplicates.Add(1)
		xrpcError(w, http.StatusInternalServerError, "InternalServerError", "Internal Server Error")
		return
	}
	rec := &bskyRecord{rkey: in.RKey, cid: cid(0x71, in.Record), value: in.Record, createdAt: s.now()}
	a.records[in.RKey] = rec
	uri := "at://" + a.did + "/app.bsky.feed.post/" + in.RKey
	var p bskyPost
	_ = json.Unmarshal(in.Record, &p)
	b.order = append(b.order, BlueskyPost{URI: uri, CID: rec.cid, DID: a.did, Handle: a.handle, RKey: in.RKey, Text: p.Text, Record: in.Record, CreatedAt: rec.createdAt})
	s.stats.statuses.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"uri": uri, "cid": rec.cid, "validationStatus": "valid",
		"commit": map[string]string{"cid": cid(0x71, []byte(uri+rec.cid)), "rev": simTID(s.now(), len(b.order))},
	})
}

// simTID makes a TID from the clock for records without a chosen key.
func simTID(now time.Time, n int) string {
	const alphabet = "234567abcdefghijklmnopqrstuvwxyz"
	v := uint64(now.UnixMicro())<<10 | uint64(n&0x3ff)
	v &^= 1 << 63
	out := make([]byte, 13)
	for i := 12; i >= 0; i-- {
		out[i] = alphabet[v&31]
		v >>= 5
	}
	return string(out)
}

func (s *Server) bskyGetRecord(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b := s.bsky
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accounts[q.Get("repo")]
	if a == nil {
		a = b.handles[strings.ToLower(q.Get("repo"))]
	}
	if a == nil {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Could not find repo: "+q.Get("repo"))
		return
	}
	uri := "at://" + a.did + "/" + q.Get("collection") + "/" + q.Get("rkey")
	rec := a.records[q.Get("rkey")]
	if rec == nil || q.Get("collection") != "app.bsky.feed.post" {
		xrpcError(w, http.StatusBadRequest, "RecordNotFound", "Could not locate record: "+uri)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"uri": uri, "cid": rec.cid, "value": rec.value})
}

func (s *Server) bskyDeleteRecord(w http.ResponseWriter, r *http.Request, a *bskyAccount) {
	var in struct{ Repo, Collection, RKey string }
	if json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in) != nil || in.Repo == "" || in.Collection == "" || in.RKey == "" {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Input must have the properties \"repo\", \"collection\" and \"rkey\"")
		return
	}
	if in.Repo != a.did && in.Repo != a.handle {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "Invalid repo: not the session's account")
		return
	}
	if !s.spend(w, a, 1) {
		return
	}
	b := s.bsky
	if _, ok := a.records[in.RKey]; ok && in.Collection == "app.bsky.feed.post" {
		delete(a.records, in.RKey)
		for i := range b.order {
			if b.order[i].DID == a.did && b.order[i].RKey == in.RKey && !b.order[i].Deleted {
				b.order[i].Deleted = true
			}
		}
	}
	// Deleting a record that is not there succeeds, as on the PDS.
	writeJSON(w, http.StatusOK, map[string]any{})
}

// controlBlueskyAccount handles POST /_simnet/bluesky/accounts
// {"handle": "alice.test", "password": "..."} and answers {"did",
// "handle"}.
func (s *Server) controlBlueskyAccount(w http.ResponseWriter, r *http.Request) {
	var in struct{ Handle, Password string }
	if json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes)).Decode(&in) != nil {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "the body must be JSON: {\"handle\", \"password\"}")
		return
	}
	handle := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(in.Handle), "@"))
	if !bskyHandleRE.MatchString(handle) || in.Password == "" {
		xrpcError(w, http.StatusBadRequest, "InvalidRequest", "handle must be a domain name such as alice.test, and password must not be empty")
		return
	}
	did := s.CreateBlueskyAccount(handle, in.Password)
	writeJSON(w, http.StatusOK, map[string]string{"did": did, "handle": handle})
}

// controlBlueskyPosts handles GET /_simnet/bluesky/posts[?handle=alice.test].
func (s *Server) controlBlueskyPosts(w http.ResponseWriter, r *http.Request) {
	all := s.BlueskyPosts()
	if who := strings.ToLower(strings.TrimPrefix(r.URL.Query().Get("handle"), "@")); who != "" {
		kept := all[:0]
		for _, p := range all {
			if p.Handle == who || p.DID == who {
				kept = append(kept, p)
			}
		}
		all = kept
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "posts": all})
}
