package portal

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/store"
)

// AgencyInput creates an agency and its first owner.
type AgencyInput struct {
	AgencyName string
	Name       string
	Email      string
	Password   string
}

// Session is a signed-in browser session. Token goes into the cookie and is
// known only to the browser: Portal keeps its hash.
type Session struct {
	Token     string
	ExpiresAt time.Time
	Principal *Principal
}

// APIToken is a token for scripts, acting as the user who made it.
type APIToken struct {
	ID   string
	Name string
	// Scopes: ScopeRead (GET requests) and or ScopeWrite (every other).
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// API token scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// checkScopes validates the scopes asked for a token; none means both.
func checkScopes(v *errs.Fields, scopes []string) []string {
	if len(scopes) == 0 {
		return []string{ScopeRead, ScopeWrite}
	}
	seen := map[string]bool{}
	var out []string
	for i, sc := range scopes {
		switch {
		case sc != ScopeRead && sc != ScopeWrite:
			v.Add(fmt.Sprintf("scopes[%d]", i), "must be read or write")
		case !seen[sc]:
			seen[sc] = true
			out = append(out, sc)
		}
	}
	slices.Sort(out)
	return out
}

const apiTokenPrefix = "hrld_"

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// checkEmail says what is wrong with a normalized email, or "".
func checkEmail(e string) string {
	if e == "" {
		return "is required"
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return "is not a valid email address"
	}
	return ""
}

// checkName validates a required display string of at most max characters.
func checkName(v *errs.Fields, field, value string, max int) string {
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		v.Add(field, "is required")
	case utf8.RuneCountInString(value) > max:
		v.Add(field, "must be at most %d characters", max)
	case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.Add(field, "must not contain control characters")
	}
	return value
}

func (in *AgencyInput) validate() error {
	var v errs.Fields
	in.AgencyName = checkName(&v, "agency_name", in.AgencyName, 100)
	in.Name = checkName(&v, "name", in.Name, 100)
	in.Email = normalizeEmail(in.Email)
	if m := checkEmail(in.Email); m != "" {
		v.Add("email", "%s", m)
	}
	if m := checkPassword(in.Password); m != "" {
		v.Add("password", "%s", m)
	}
	return v.Err()
}

// SetupNeeded reports whether no agency exists yet (first run).
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM portal_agencies`).Scan(&n); err != nil {
		return false, err
	}
	return n == 0, nil
}

// Setup creates the first agency and its owner, and signs the owner in. It
// works only while no agency exists; afterwards it is a Conflict.
func (s *Service) Setup(ctx context.Context, in AgencyInput) (*Session, error) {
	agencyID, userID, err := s.createAgency(ctx, in, true)
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, agencyID, userID, "")
}

// CreateAgency creates an agency and its owner (the admin command line).
func (s *Service) CreateAgency(ctx context.Context, in AgencyInput) (agencyID, userID string, err error) {
	return s.createAgency(ctx, in, false)
}

func (s *Service) createAgency(ctx context.Context, in AgencyInput, firstOnly bool) (string, string, error) {
	if err := in.validate(); err != nil {
		return "", "", err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return "", "", err
	}
	agencyID, userID := id.New("agency"), id.New("user")
	now := store.ToMicros(time.Now())
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if firstOnly {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM portal_agencies`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return errs.E(errs.Conflict, "setup is already done")
			}
			if _, err := tx.Exec(ctx, `INSERT INTO portal_setup (singleton, agency_id, created_at) VALUES (1, ?, ?)`, agencyID, now); err != nil {
				if errs.Is(err, errs.Conflict) {
					return errs.E(errs.Conflict, "setup is already done")
				}
				return err
			}
		}
		if err := s.emailFree(ctx, tx, in.Email); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO portal_agencies (id, name, created_at) VALUES (?, ?, ?)`, agencyID, in.AgencyName, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO portal_users (id, agency_id, email, name, password_hash, owner, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, userID, agencyID, in.Email, in.Name, hash, true, now)
		return err
	})
	if err != nil {
		return "", "", err
	}
	s.log.Info("agency created", "agency_id", agencyID, "user_id", userID)
	return agencyID, userID, nil
}

func (s *Service) emailFree(ctx context.Context, q store.Querier, email string) error {
	var n int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM portal_users WHERE email = ?`, email).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errs.Fields{"email": "is already in use"}.Err()
	}
	return nil
}

// LoginInput is a sign-in attempt.
type LoginInput struct {
	Email    string
	Password string
	// ClientIP keys the per-address rate limit.
	ClientIP string
	// PreviousToken is the session cookie the browser still had, if any: it
	// is ended, so a session id planted before sign-in is worthless after.
	PreviousToken string
}

// Login checks an email and password and starts a new session. Attempts are
// rate-limited per client address and per email, whether they succeed or
// not; a wrong email and a wrong password get the same answer.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Session, error) {
	email := normalizeEmail(in.Email)
	var v errs.Fields
	if email == "" {
		v.Add("email", "is required")
	}
	if in.Password == "" {
		v.Add("password", "is required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	const tooMany = "too many sign-in attempts; try again later"
	if ok, after := s.loginByIP.allow(in.ClientIP); !ok {
		return nil, errRateLimited(after, tooMany)
	}
	if ok, after := s.loginByEmail.allow(email); !ok {
		return nil, errRateLimited(after, tooMany)
	}
	if len(in.Password) > maxPasswordBytes {
		return nil, errs.E(errs.Unauthenticated, "email or password is wrong")
	}
	var userID, agencyID, hash string
	err := s.db.QueryRow(ctx, `SELECT id, agency_id, password_hash FROM portal_users WHERE email = ?`, email).
		Scan(&userID, &agencyID, &hash)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNoRows) {
		return nil, err
	}
	if !found {
		hash = s.hasher.dummy
	}
	ok, err := s.hasher.verify(ctx, hash, in.Password)
	if err != nil {
		return nil, err
	}
	if !ok || !found {
		return nil, errs.E(errs.Unauthenticated, "email or password is wrong")
	}
	return s.startSession(ctx, agencyID, userID, in.PreviousToken)
}

// startSession creates a session with a fresh random id for the user,
// ending previousToken's session if there was one.
func (s *Service) startSession(ctx context.Context, agencyID, userID, previousToken string) (*Session, error) {
	token := newSecret("")
	h := hashSecret(token)
	now := time.Now()
	exp := now.Add(s.cfg.SessionTTL)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if previousToken != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE id_hash = ?`, hashSecret(previousToken)); err != nil {
				return err
			}
		}
		// Expired sessions of this user go now rather than waiting for the sweep.
		if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE user_id = ? AND expires_at <= ?`, userID, store.ToMicros(now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO portal_sessions (id_hash, agency_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			h, agencyID, userID, store.ToMicros(now), store.ToMicros(exp))
		return err
	})
	if err != nil {
		return nil, err
	}
	p, err := s.principal(ctx, agencyID, userID)
	if err != nil {
		return nil, err
	}
	p.sessionHash = h
	p.CSRFToken = s.keys.csrfToken(h)
	return &Session{Token: token, ExpiresAt: exp, Principal: p}, nil
}

func (s *Service) principal(ctx context.Context, agencyID, userID string) (*Principal, error) {
	p := &Principal{AgencyID: agencyID, UserID: userID}
	err := s.db.QueryRow(ctx, `SELECT email, name, owner FROM portal_users WHERE agency_id = ? AND id = ?`, agencyID, userID).
		Scan(&p.Email, &p.Name, &p.Owner)
	if err != nil {
		return nil, store.NotFound(err, "user")
	}
	return p, nil
}

var errNotSignedIn = errs.E(errs.Unauthenticated, "sign in first")

// SessionPrincipal returns who holds the session whose cookie value is
// token, or Unauthenticated if it is unknown or expired.
func (s *Service) SessionPrincipal(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, errNotSignedIn
	}
	h := hashSecret(token)
	p := &Principal{sessionHash: h}
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT s.agency_id, s.user_id, s.expires_at, u.email, u.name, u.owner
		FROM portal_sessions s JOIN portal_users u ON u.id = s.user_id AND u.agency_id = s.agency_id
		WHERE s.id_hash = ?`, h).Scan(&p.AgencyID, &p.UserID, &exp, &p.Email, &p.Name, &p.Owner)
	if err != nil {
		if errors.Is(err, store.ErrNoRows) {
			return nil, errNotSignedIn
		}
		return nil, err
	}
	if !time.Now().Before(store.FromMicros(exp)) {
		return nil, errs.E(errs.Unauthenticated, "your session has expired; sign in again")
	}
	p.CSRFToken = s.keys.csrfToken(h)
	return p, nil
}

// TokenPrincipal returns who an API token acts for.
func (s *Service) TokenPrincipal(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, apiTokenPrefix) {
		return nil, errs.E(errs.Unauthenticated, "the API token is not valid")
	}
	p := &Principal{ViaToken: true}
	var tokenID, scopes string
	var lastUsed int64
	err := s.db.QueryRow(ctx, `SELECT t.id, t.scopes, t.last_used_at, t.agency_id, t.user_id, u.email, u.name, u.owner
		FROM portal_api_tokens t JOIN portal_users u ON u.id = t.user_id AND u.agency_id = t.agency_id
		WHERE t.token_hash = ?`, hashSecret(token)).Scan(&tokenID, &scopes, &lastUsed, &p.AgencyID, &p.UserID, &p.Email, &p.Name, &p.Owner)
	if err != nil {
		if errors.Is(err, store.ErrNoRows) {
			return nil, errs.E(errs.Unauthenticated, "the API token is not valid")
		}
		return nil, err
	}
	p.tokenID, p.scopes = tokenID, strings.Fields(scopes)
	// Record use at minute granularity: a write per request would queue
	// every API call behind the store's writer.
	now := time.Now()
	if now.Sub(store.FromMicros(lastUsed)) > time.Minute {
		if _, err := s.db.Exec(ctx, `UPDATE portal_api_tokens SET last_used_at = ? WHERE id = ?`, store.ToMicros(now), tokenID); err != nil {
			s.log.Warn("recording API token use", "token_id", tokenID, "err", err)
		}
	}
	return p, nil
}

// Logout ends the principal's session.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.sessionHash == "" {
		return nil
	}
	_, err := s.db.Exec(ctx, `DELETE FROM portal_sessions WHERE id_hash = ?`, p.sessionHash)
	return err
}

// CreateAPIToken makes an API token for the principal. The token is in the
// returned string only: Portal keeps its hash.
func (s *Service) CreateAPIToken(ctx context.Context, p *Principal, name string, scopes ...string) (APIToken, string, error) {
	var v errs.Fields
	name = checkName(&v, "name", name, 100)
	scopes = checkScopes(&v, scopes)
	if err := v.Err(); err != nil {
		return APIToken{}, "", err
	}
	if p.ViaToken && !p.may(ScopeWrite) {
		return APIToken{}, "", errs.E(errs.Forbidden, "this API token may only read")
	}
	if p.ViaToken && slices.Contains(scopes, ScopeWrite) && !p.may(ScopeWrite) {
		return APIToken{}, "", errs.E(errs.Forbidden, "a token cannot make a token with more rights than its own")
	}
	secret := newSecret(apiTokenPrefix)
	t := APIToken{ID: id.New("tok"), Name: name, Scopes: scopes, CreatedAt: time.Now().UTC()}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_api_tokens (id, agency_id, user_id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, p.AgencyID, p.UserID, t.Name, hashSecret(secret), strings.Join(scopes, " "), store.ToMicros(t.CreatedAt))
	if err != nil {
		return APIToken{}, "", err
	}
	return t, secret, nil
}

// ListAPITokens lists the principal's own API tokens.
func (s *Service) ListAPITokens(ctx context.Context, p *Principal) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, scopes, created_at, last_used_at FROM portal_api_tokens
		WHERE agency_id = ? AND user_id = ? ORDER BY id`, p.AgencyID, p.UserID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var t APIToken
		var c, u int64
		var scopes string
		if err := rows.Scan(&t.ID, &t.Name, &scopes, &c, &u); err != nil {
			return nil, err
		}
		t.Scopes = strings.Fields(scopes)
		t.CreatedAt, t.LastUsedAt = store.FromMicros(c), store.FromMicros(u)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteAPIToken revokes one of the principal's API tokens.
func (s *Service) DeleteAPIToken(ctx context.Context, p *Principal, tokenID string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM portal_api_tokens WHERE agency_id = ? AND user_id = ? AND id = ?`, p.AgencyID, p.UserID, tokenID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "API token not found")
	}
	return nil
}
