package httpcall

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/heraldhq/herald/provider"
)

// DoBearer is Do for the token-authenticated APIs: it sends token as a
// bearer credential (none when empty) and asks for JSON unless req already
// names what it accepts.
func DoBearer(client *http.Client, req *http.Request, token string) (Exchange, error) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	return Do(client, req)
}

// ClockSkew is how early before its recorded expiry an access token is
// taken for expired, since the network's clock and Herald's differ.
const ClockSkew = time.Minute

// Unauthorized is the error for a 401: Expired when acct's access token
// has (about) expired, so a refresh may fix it, else Disconnected.
func Unauthorized(acct provider.Account, now time.Time, status int, op, said string) *provider.Error {
	if said != "" {
		said = ": " + said
	}
	if !acct.ExpiresAt.IsZero() && !now.Before(acct.ExpiresAt.Add(-ClockSkew)) {
		return &provider.Error{Kind: provider.Expired, Status: status, Message: op + ": the access token has expired" + said}
	}
	return &provider.Error{Kind: provider.Disconnected, Status: status, Message: op + ": the network refused the access token" + said + "; reconnect the account"}
}

// NeedsRefresh reports whether acct's access token expires within margin
// of now and can be renewed (it has a refresh token).
func NeedsRefresh(acct provider.Account, now time.Time, margin time.Duration) bool {
	if acct.RefreshToken == "" || acct.ExpiresAt.IsZero() {
		return false
	}
	return !now.Add(margin).Before(acct.ExpiresAt)
}

// AccountKey tells accounts apart in a RateBook: by Account.ID, or, without
// one, by a hash of the token (never the token in clear).
func AccountKey(acct provider.Account) string {
	if acct.ID != "" {
		return acct.ID
	}
	sum := sha256.Sum256([]byte(acct.InstanceURL + "\n" + acct.AccessToken))
	return "anon:" + hex.EncodeToString(sum[:16])
}
