package zk

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/heraldhq/herald/id"
)

// BenchmarkLock takes and frees a free lock, through the adapter and, on
// the same server in the same run, through the raw client doing the same
// recipe (look, create, list, stat, delete): the ratio is the adapter's
// own cost.
//
//	go test -run '^$' -bench Lock ./coord/zk
func BenchmarkLock(b *testing.B) {
	addr := serverAddr(b)
	b.Run("adapter", func(b *testing.B) {
		c := mustOpen(b, "zk://"+addr+testPath)
		ctx := b.Context()
		name := id.New("zkbench")
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
		conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		dir := testPath + "/locks/" + id.New("zkbench")
		if _, err := conn.CreateContainer(dir, nil, zk.FlagContainer, zk.WorldACL(zk.PermAll)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, _, err := conn.Children(dir); err != nil {
				b.Fatal(err)
			}
			p, err := conn.Create(dir+"/lock-", []byte("bench"), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := conn.Children(dir); err != nil {
				b.Fatal(err)
			}
			if _, _, err := conn.Exists(p); err != nil {
				b.Fatal(err)
			}
			if err := conn.Delete(p, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
