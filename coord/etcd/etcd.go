package etcd

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/coord"
	"github.com/heraldhq/herald/coord/internal/portable"
	"github.com/heraldhq/herald/errs"
)

func init() {
	coord.Register("etcd", func(ctx context.Context, u *url.URL) (coord.Coordinator, error) {
		c, err := Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return c, nil
	})
}

// Coordinator is a coord.Coordinator kept by etcd.
type Coordinator struct {
	*portable.Coordinator
	d *driver
}

// Open connects to the cluster u names and returns once it has a session
// lease. It fails within connect_timeout if the cluster does not answer,
// and at once if it refuses the credentials.
func Open(ctx context.Context, u *url.URL) (*Coordinator, error) {
	t, err := portable.ParseURL(u, "2379", time.Second)
	if err != nil {
		return nil, err
	}
	endpoints := make([]string, len(t.Servers))
	for i, s := range t.Servers {
		endpoints[i] = "http://" + s
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: t.ConnectTimeout,
		Username:    t.Username,
		Password:    t.Password,
		// The client's own logs are its business; what matters to an
		// operator (a session lost, a new one) the adapter logs itself.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, openFailed(t, err)
	}
	d := &driver{
		t:    t,
		cli:  cli,
		pc:   portable.New("etcd", t.ConnectTimeout),
		ttl:  int64(math.Ceil(t.TTL.Seconds())),
		kept: make(chan struct{}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	s, err := d.newSession(ctx)
	if err == nil {
		// A lease needs no permission on keys: check these credentials may
		// read Herald's, so that a role without them fails here, not at
		// the first lock.
		if err = d.canRead(ctx); err != nil {
			s.stop()
			d.revoke(s.Lease(), t.ConnectTimeout)
		}
	}
	if err != nil {
		d.cancel()
		_ = cli.Close()
		return nil, openFailed(t, err)
	}
	d.sess = s
	d.pc.SessionStarted(int64(s.Lease()))
	d.pc.Start(d)
	go d.keep(s)
	return &Coordinator{Coordinator: d.pc, d: d}, nil
}

// openFailed gives an Open error its kind: refused credentials are told
// apart from a cluster out of reach.
func openFailed(t portable.Target, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return portable.OpenFailed(t, errs.Unauthenticated, "the cluster requires credentials", err)
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrInvalidAuthToken),
		errors.Is(err, rpctypes.ErrUserNotFound):
		return portable.OpenFailed(t, errs.Unauthenticated, "the cluster refused the credentials", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return portable.OpenFailed(t, errs.Forbidden, "the cluster refused these credentials access", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The client waits for a connection until the deadline and says no
		// more; a server that refuses connections says why.
		for _, s := range t.Servers {
			c, derr := net.DialTimeout("tcp", s, time.Second)
			if derr != nil {
				err = derr
				break
			}
			_ = c.Close()
		}
	}
	return portable.OpenFailed(t, errs.Unavailable, fmt.Sprintf("no answer from etcd within %v", t.ConnectTimeout), err)
}

func (d *driver) canRead(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.t.ConnectTimeout)
	defer cancel()
	_, err := d.cli.Get(ctx, d.t.Path+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	return err
}

// driver is the etcd side of the coordinator.
type driver struct {
	t   portable.Target
	cli *clientv3.Client
	pc  *portable.Coordinator
	ttl int64 // the lease time to live asked for, in seconds

	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	kept   chan struct{} // closed when keep returns

	mu   sync.Mutex
	sess *session // the current session
}

// session is a concurrency.Session and what the driver watches of it.
type session struct {
	*concurrency.Session
	ttl      time.Duration // as the cluster granted it
	renewals <-chan *clientv3.LeaseKeepAliveResponse
	stop     context.CancelFunc // stops renewing the lease
}

// newSession grants a lease and keeps it alive.
func (d *driver) newSession(ctx context.Context) (*session, error) {
	gctx, cancel := context.WithTimeout(ctx, d.t.ConnectTimeout)
	defer cancel()
	g, err := d.cli.Grant(gctx, d.ttl)
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(d.ctx)
	s, err := concurrency.NewSession(d.cli,
		concurrency.WithLease(g.ID), concurrency.WithTTL(int(g.TTL)), concurrency.WithContext(sctx))
	if err == nil {
		// A second listener on the same keep-alive (the client sends one
		// renewal per lease however many listen): it tells when each
		// renewal arrives, which the session does not.
		var renewals <-chan *clientv3.LeaseKeepAliveResponse
		if renewals, err = d.cli.KeepAlive(sctx, g.ID); err == nil {
			return &session{Session: s, ttl: time.Duration(g.TTL) * time.Second, renewals: renewals, stop: stop}, nil
		}
	}
	stop()
	d.revoke(g.ID, d.t.ConnectTimeout)
	return nil, err
}

// keep watches the session and, when it is over or can no longer be
// trusted, tells the coordinator and starts a new one.
func (d *driver) keep(s *session) {
	defer close(d.kept)
	for {
		why := d.watch(s)
		if d.ctx.Err() != nil {
			return
		}
		old := s.Lease()
		slog.Warn("coord: etcd session ended; its locks are lost", "url", d.t.Redacted, "lease", fmt.Sprintf("%x", int64(old)), "why", why)
		d.pc.SessionEnded(int64(old))
		s.stop()
		// The lease may still be alive on the cluster: revoke it once it can
		// be reached, so that its locks are free now rather than at expiry.
		go d.revoke(old, s.ttl)
		for {
			next, err := d.newSession(d.ctx)
			if err == nil {
				s = next
				break
			}
			if d.ctx.Err() != nil {
				return
			}
			slog.Warn("coord: starting a new etcd session", "url", d.t.Redacted, "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		d.mu.Lock()
		d.sess = s
		d.mu.Unlock()
		slog.Info("coord: new etcd session", "url", d.t.Redacted, "lease", fmt.Sprintf("%x", int64(s.Lease())))
		d.pc.SessionStarted(int64(s.Lease()))
	}
}

// watch returns when s is over (its lease expired or was revoked) or can
// no longer be trusted: no renewal for two thirds of its time to live (see
// the package documentation).
func (d *driver) watch(s *session) string {
	limit := s.ttl * 2 / 3
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return "closed"
		case <-s.Done():
			return "the lease is gone"
		case _, ok := <-s.renewals:
			if !ok {
				return "the lease is gone"
			}
			timer.Reset(limit)
		case <-timer.C:
			return fmt.Sprintf("no renewal of the lease for %v", limit)
		}
	}
}

func (d *driver) revoke(lease clientv3.LeaseID, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if _, err := d.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		slog.Debug("coord: revoking an etcd lease", "url", d.t.Redacted, "err", err)
	}
}

// lease is the current session's lease.
func (d *driver) lease() clientv3.LeaseID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess.Lease()
}

func (d *driver) key(parts ...string) string {
	k := d.t.Path
	for _, p := range parts {
		k += "/" + portable.Segment(p)
	}
	return k
}

// written is a key and the value this client wrote there: deletes are
// conditional on the value, which holds a random part, so a client only
// ever deletes what it wrote.
type written struct{ key, val string }

// deleteIfMine deletes w's key if it still holds w's value.
func (d *driver) deleteIfMine(ctx context.Context, w written) error {
	_, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(w.key), "=", w.val)).
		Then(clientv3.OpDelete(w.key)).
		Commit()
	return err
}

func nonce() string { return rand.Text() }

// Acquire creates the lock's key if it does not exist, in one transaction.
func (d *driver) Acquire(ctx context.Context, name, holder string) (portable.Held, error) {
	val, err := json.Marshal(struct {
		Holder string `json:"holder"`
		Nonce  string `json:"nonce"`
	}{holder, nonce()})
	if err != nil {
		return portable.Held{}, err
	}
	w := written{d.key("locks", name), string(val)}
	lease := d.lease()
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(w.key), "=", 0)).
		Then(clientv3.OpPut(w.key, w.val, clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		// The transaction may have been applied: undo it if it was.
		d.pc.CleanUp(int64(lease), func(ctx context.Context) error { return d.deleteIfMine(ctx, w) })
		return portable.Held{}, err
	}
	if !resp.Succeeded {
		return portable.Held{}, coord.ErrLocked
	}
	// The key was created by this transaction: its create revision is the
	// transaction's revision.
	return portable.Held{Session: int64(lease), Token: resp.Header.Revision, Ref: w}, nil
}

// Release deletes the lock's key if it still holds this acquisition.
func (d *driver) Release(ctx context.Context, h portable.Held) error {
	return d.deleteIfMine(ctx, h.Ref.(written))
}

// entry is a registration's value.
type entry struct {
	Service string `json:"service"`
	ID      string `json:"id"`
	Addr    string `json:"addr,omitempty"`
	Nonce   string `json:"nonce"`
}

// Announce puts the instance's key with the session's lease. A new
// registration overwrites an older one of the same instance (the newer
// wins, and the older's Withdraw no longer matches its value); one
// announced again keeps its value, so it is still told apart.
func (d *driver) Announce(ctx context.Context, in coord.Instance, prev *portable.Announced) (portable.Announced, error) {
	lease := d.lease()
	if prev != nil {
		return d.announceAgain(ctx, lease, prev.Ref.(written))
	}
	val, err := json.Marshal(entry{Service: in.Service, ID: in.ID, Addr: in.Addr, Nonce: nonce()})
	if err != nil {
		return portable.Announced{}, err
	}
	w := written{d.key("services", in.Service, in.ID), string(val)}
	if _, err := d.cli.Put(ctx, w.key, w.val, clientv3.WithLease(lease)); err != nil {
		d.pc.CleanUp(int64(lease), func(ctx context.Context) error { return d.deleteIfMine(ctx, w) })
		return portable.Announced{}, err
	}
	return portable.Announced{Session: int64(lease), Ref: w}, nil
}

// announceAgain writes a registration again in the current session: it
// moves the key to the session's lease if it still holds its value, writes
// it if it is gone with its old lease, and gives up if a newer
// registration has taken its place. (A write whose outcome is unknown
// needs no undoing: it wrote the registration's own value, which the next
// attempt, or its Withdraw, matches.)
func (d *driver) announceAgain(ctx context.Context, lease clientv3.LeaseID, w written) (portable.Announced, error) {
	ann := portable.Announced{Session: int64(lease), Ref: w}
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(w.key), "=", w.val)).
		Then(clientv3.OpPut(w.key, w.val, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(w.key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return portable.Announced{}, err
	}
	if resp.Succeeded {
		return ann, nil
	}
	if resp.Responses[0].GetResponseRange().Count > 0 {
		return portable.Announced{}, portable.ErrReplaced
	}
	resp, err = d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(w.key), "=", 0)).
		Then(clientv3.OpPut(w.key, w.val, clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return portable.Announced{}, err
	}
	if !resp.Succeeded {
		return portable.Announced{}, portable.ErrReplaced
	}
	return ann, nil
}

// Withdraw deletes the registration's key if it still holds its value.
func (d *driver) Withdraw(ctx context.Context, a portable.Announced) error {
	return d.deleteIfMine(ctx, a.Ref.(written))
}

// Instances reads the keys of service's registrations.
func (d *driver) Instances(ctx context.Context, service string) ([]coord.Instance, error) {
	resp, err := d.cli.Get(ctx, d.key("services", service)+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]coord.Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var e entry
		if err := json.Unmarshal(kv.Value, &e); err != nil || e.ID == "" {
			slog.Warn("coord: skipping a registration key that is not Herald's", "key", string(kv.Key))
			continue
		}
		out = append(out, coord.Instance{Service: service, ID: e.ID, Addr: e.Addr})
	}
	return out, nil
}

// Ping reads through the cluster's quorum.
func (d *driver) Ping(ctx context.Context) error {
	_, err := d.cli.Get(ctx, d.t.Path, clientv3.WithCountOnly())
	return err
}

// Close revokes the session's lease, which deletes its keys at once, and
// closes the client. A lease that cannot be revoked (the cluster is out of
// reach) expires within its time to live.
func (d *driver) Close() error {
	d.cancel()
	<-d.kept
	d.revoke(d.lease(), d.t.ConnectTimeout)
	return d.cli.Close()
}

// LeaseID is the current session's lease, for logs and tests.
func (c *Coordinator) LeaseID() int64 { return int64(c.d.lease()) }

// Interface guards.
var (
	_ portable.Driver   = (*driver)(nil)
	_ coord.Coordinator = (*Coordinator)(nil)
)
