package publisher

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/coord"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/provider"
)

// Renewing credentials.
//
// A provider implementing provider.Refresher has access tokens that
// expire. Before a call whose token NeedsRefresh says is (nearly) spent,
// and once after a call the network refused as Expired, the try renews
// the account's credentials and goes on with the new token. However many
// tries need it at once, an account is renewed once: the tries of one
// node share one renewal (singleflight), and the nodes take the
// coordination lock named after the account before renewing, then read
// the credentials again, since another node may have renewed them while
// this one waited. The renewal is stored in Portal with UpdateCredentials,
// a compare-and-set on the credentials' version, so a renewal made from
// stale credentials is never stored over newer ones. Several networks
// rotate refresh tokens, so two renewals from one refresh token would
// fail the second with Disconnected: renewing once is what keeps the
// account connected, not only a saving.

// refreshLockWait is how often a node waiting for another's renewal tries
// the lock again.
const refreshLockWait = 25 * time.Millisecond

// storeTries and storeRetryWait bound storing a renewal in Portal.
const (
	storeTries     = 3
	storeRetryWait = 200 * time.Millisecond
)

const reasonRefreshing = "waiting for the account's access to be renewed"

func accountKey(tenantID, accountID string) string { return tenantID + "/" + accountID }

// refreshLockName names the coordination lock of an account's renewal.
func refreshLockName(tenantID, accountID string) string {
	return "publisher-refresh:" + tenantID + ":" + accountID
}

// withCredentials returns t with the credentials of c (a stored or
// renewed set), keeping what c does not carry.
func withCredentials(t, c *portalv1.Target) *portalv1.Target {
	out := proto.Clone(t).(*portalv1.Target)
	out.AccessToken = c.GetAccessToken()
	if c.GetRefreshToken() != "" {
		out.RefreshToken = c.GetRefreshToken()
	}
	out.ExpiresAt = c.GetExpiresAt()
	if c.GetSecret() != "" {
		out.Secret = c.GetSecret()
	}
	out.CredentialsVersion = c.GetCredentialsVersion()
	return out
}

// renew returns t's account with renewed credentials. force renews even
// if NeedsRefresh says the token is still good (the network refused it as
// expired), unless newer credentials than t's are known.
func (s *Service) renew(ctx context.Context, a attempt, t *portalv1.Target, r provider.Refresher, force bool) (*portalv1.Target, error) {
	key := accountKey(a.TenantID, a.AccountID)
	if cur, ok := s.knownCredentials(key, t); ok && (force || !r.NeedsRefresh(accountOf(cur), s.now())) {
		return cur, nil
	}
	// The renewal outlives the try that started it (others wait for it),
	// so it runs on its own deadline.
	ch := s.refreshGroup.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CallTimeout)
		defer cancel()
		return s.renewOnce(ctx, a, t, r, force)
	})
	select {
	case <-ctx.Done():
		return nil, &provider.Error{Kind: provider.Retry, Message: reasonRefreshing, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return withCredentials(t, res.Val.(*portalv1.Target)), nil
	}
}

// knownCredentials returns t with the newest credentials this node holds
// for key, if they are newer than t's.
func (s *Service) knownCredentials(key string, t *portalv1.Target) (*portalv1.Target, bool) {
	s.credsMu.Lock()
	c := s.creds[key]
	s.credsMu.Unlock()
	if c == nil || c.GetCredentialsVersion() <= t.GetCredentialsVersion() {
		return nil, false
	}
	return withCredentials(t, c), true
}

func (s *Service) remember(key string, t *portalv1.Target) {
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if c := s.creds[key]; c == nil || c.GetCredentialsVersion() < t.GetCredentialsVersion() {
		s.creds[key] = t
	}
}

// renewOnce renews under the account's coordination lock.
func (s *Service) renewOnce(ctx context.Context, a attempt, t *portalv1.Target, r provider.Refresher, force bool) (*portalv1.Target, error) {
	key := accountKey(a.TenantID, a.AccountID)
	if s.coord != nil {
		lock, err := s.lockRefresh(ctx, refreshLockName(a.TenantID, a.AccountID))
		if err != nil {
			return nil, &provider.Error{Kind: provider.Retry, Message: reasonRefreshing, Err: err}
		}
		defer func() {
			if err := lock.Unlock(context.WithoutCancel(ctx)); err != nil {
				s.log.Warn("releasing the renewal lock", "account_id", a.AccountID, "err", err)
			}
		}()
	}
	// Another node, or this one a moment ago, may have renewed meanwhile.
	if cur, ok := s.knownCredentials(key, t); ok {
		t = cur
	}
	cur, err := s.storedCredentials(ctx, a)
	unread := err != nil || cur == nil
	if err != nil {
		s.log.Warn("renewal: reading the stored credentials", "account_id", a.AccountID, "err", err)
	} else if cur != nil && cur.GetCredentialsVersion() > t.GetCredentialsVersion() {
		t = withCredentials(t, cur)
		s.remember(key, t)
		if force || !r.NeedsRefresh(accountOf(t), s.now()) {
			return t, nil
		}
	}
	cr, err := r.Refresh(ctx, accountOf(t))
	if err != nil {
		var pe *provider.Error
		if !errors.As(err, &pe) {
			pe = &provider.Error{Kind: provider.Retry, Err: err}
		}
		switch {
		case pe.Kind == provider.Unknown || pe.Kind == provider.Expired:
			// Nothing was published: a renewal that got no answer is
			// tried again like any temporary failure.
			pe = &provider.Error{Kind: provider.Retry, Message: pe.Message, Status: pe.Status, RetryAfter: pe.RetryAfter, Err: pe}
		case pe.Kind == provider.Disconnected && unread:
			// Without the stored credentials, a refused refresh token may
			// be one another node has just rotated: try again (and read
			// them) before asking anyone to reconnect.
			pe = &provider.Error{Kind: provider.Retry, Message: reasonRefreshing, Status: pe.Status, Err: pe}
		}
		return nil, pe
	}
	s.log.Info("renewed an account's access", "tenant_id", a.TenantID, "account_id", a.AccountID, "network", a.Network)
	req := &portalv1.UpdateCredentialsRequest{
		TenantId: a.TenantID, AccountId: a.AccountID, BasedOnVersion: t.GetCredentialsVersion(),
		AccessToken: cr.AccessToken, RefreshToken: cr.RefreshToken, ExpiresAt: timestampOrNil(cr.ExpiresAt),
	}
	renewed := withCredentials(t, &portalv1.Target{AccessToken: cr.AccessToken, RefreshToken: cr.RefreshToken,
		ExpiresAt: req.ExpiresAt, CredentialsVersion: t.GetCredentialsVersion()})
	// Stored at once, and again if Portal is briefly unavailable: a
	// renewal that is not stored may leave Portal a spent refresh token.
	var res *portalv1.UpdateCredentialsResponse
	for i := range storeTries {
		if res, err = s.portal.UpdateCredentials(ctx, req); err == nil || ctx.Err() != nil || i == storeTries-1 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(i+1) * storeRetryWait):
		}
	}
	if err != nil {
		// The new token works but is not stored: use it for this try.
		// The stored refresh token may be spent now (rotation); if so the
		// next renewal fails and asks for a reconnect.
		s.log.Error("renewal: storing the renewed credentials in portal", "account_id", a.AccountID, "err", err)
		return renewed, nil
	}
	if !res.GetUpdated() {
		// A reconnect (or a renewal not under this lock) came first: the
		// stored credentials are the newer grant.
		s.log.Warn("renewal: portal holds newer credentials; using those", "account_id", a.AccountID)
	}
	out := withCredentials(t, res.GetTarget())
	s.remember(key, out)
	return out, nil
}

// storedCredentials asks Portal for the account's credentials as stored,
// through the attempt's job (nil when the job no longer lists it).
func (s *Service) storedCredentials(ctx context.Context, a attempt) (*portalv1.Target, error) {
	res, err := s.portal.GetPublishJob(ctx, &portalv1.GetPublishJobRequest{
		TenantId: a.TenantID, PostId: a.PostID, Revision: a.Revision, DueAt: timestampOrNil(a.DueAt),
	})
	if err != nil {
		return nil, err
	}
	for _, t := range res.GetJob().GetTargets() {
		if t.GetAccountId() == a.AccountID {
			return t, nil
		}
	}
	return nil, nil
}

// lockRefresh takes the named lock, waiting while another holder has it.
func (s *Service) lockRefresh(ctx context.Context, name string) (coord.Lock, error) {
	for {
		lock, err := s.coord.TryLock(ctx, name, s.instance)
		if err == nil {
			return lock, nil
		}
		if !errors.Is(err, coord.ErrLocked) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(refreshLockWait):
		}
	}
}
