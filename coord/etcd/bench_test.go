package etcd

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/heraldhq/herald/id"
)

// BenchmarkLock takes and frees a free lock, through the adapter and, on
// the same server in the same run, through the raw client doing the same
// two transactions (create if absent with a lease, delete if unchanged):
// the ratio is the adapter's own cost.
//
//	go test -run '^$' -bench Lock ./coord/etcd
func BenchmarkLock(b *testing.B) {
	addr := serverAddr(b)
	b.Run("adapter", func(b *testing.B) {
		c := mustOpen(b, "etcd://"+addr+testPath)
		ctx := b.Context()
		name := id.New("etcdbench")
		for b.Loop() {
			l, err := c.TryLock(ctx, name, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		cli := rawClient(b, addr)
		ctx := b.Context()
		g, err := cli.Grant(ctx, 10)
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Revoke(ctx, g.ID)
		key, val := testPath+"/locks/"+id.New("etcdbench"), `{"holder":"bench"}`
		for b.Loop() {
			resp, err := cli.Txn(ctx).
				If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, val, clientv3.WithLease(g.ID))).
				Commit()
			if err != nil || !resp.Succeeded {
				b.Fatal(err, resp.Succeeded)
			}
			if _, err := cli.Txn(ctx).
				If(clientv3.Compare(clientv3.Value(key), "=", val)).
				Then(clientv3.OpDelete(key)).
				Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
