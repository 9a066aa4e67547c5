package e2e_test

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestSliceOnDistributedStacks runs the same journey, with the same
// assertions, on the production combinations of deploy/: every embedded
// part swapped for its real server by configuration alone.
func TestSliceOnDistributedStacks(t *testing.T) {
	t.Parallel()
	stacks := map[string]func(t *testing.T, unique string) []string{
		// The article's own stack.
		"postgres+activemq+zookeeper+memcached+s3": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=stomp://" + addr(t, "HERALD_TEST_STOMP_ADDR", "127.0.0.1:61613") + "?prefix=" + unique + ".",
				"HERALD_COORD__URL=zk://" + addr(t, "HERALD_TEST_ZOOKEEPER_ADDR", "127.0.0.1:2181") + "/" + unique,
				"HERALD_CACHE__URL=memcached://" + addr(t, "HERALD_TEST_MEMCACHED_ADDR", "127.0.0.1:11211"),
				"HERALD_CACHE__LOCAL=mem://?max_bytes=8388608",
				"HERALD_BLOB__URL=" + s3URL(t, unique),
			}
		},
		"postgres+nats+etcd+redis+s3": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=nats://" + addr(t, "HERALD_TEST_NATS_ADDR", "127.0.0.1:4222") + "?stream=" + strings.ToUpper(unique) + "&prefix=" + unique,
				"HERALD_COORD__URL=etcd://" + addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379") + "/" + unique,
				"HERALD_CACHE__URL=redis://" + addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379") + "/0",
				"HERALD_CACHE__LOCAL=mem://?max_bytes=8388608",
				"HERALD_BLOB__URL=" + s3URL(t, unique),
			}
		},
		"postgres+rabbitmq+etcd+redis+s3": func(t *testing.T, unique string) []string {
			return []string{
				"HERALD_STORE__URL=" + storetest.URLFor(t, store.Postgres),
				"HERALD_BUS__URL=" + rabbitURL(t, unique),
				"HERALD_COORD__URL=etcd://" + addr(t, "HERALD_TEST_ETCD_ADDR", "127.0.0.1:2379") + "/" + unique,
				"HERALD_CACHE__URL=redis://" + addr(t, "HERALD_TEST_REDIS_ADDR", "127.0.0.1:6379") + "/0",
				"HERALD_BLOB__URL=" + s3URL(t, unique),
			}
		},
	}
	for name, settings := range stacks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			unique := strings.ReplaceAll(id.New("ht"), "_", "")
			h := startHerald(t, config.TransportLocal, settings(t, unique)...)
			runSlice(t, h)
		})
	}
}

// addr returns a test server's host:port, skipping (failing under CI) when
// nothing answers there.
func addr(t *testing.T, env, def string) string {
	t.Helper()
	return servertest.Addr(t, env, def)
}

func s3URL(t *testing.T, bucket string) string {
	t.Helper()
	endpoint := os.Getenv("HERALD_TEST_S3_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:9000"
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Reachable(t, "HERALD_TEST_S3_ENDPOINT", u.Host)
	return "s3://herald:s3cret@" + bucket + "?endpoint=" + url.QueryEscape(endpoint) + "&region=us-east-1&use_path_style=true"
}

func rabbitURL(t *testing.T, unique string) string {
	t.Helper()
	raw := os.Getenv("HERALD_TEST_RABBITMQ_URL")
	if raw == "" {
		raw = "amqp://guest:guest@127.0.0.1:5672/"
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Reachable(t, "HERALD_TEST_RABBITMQ_URL", u.Host)
	q := u.Query()
	q.Set("exchange", unique)
	q.Set("prefix", unique)
	q.Set("expires", "10m") // the test's queues go away after it
	u.RawQuery = q.Encode()
	return u.String()
}
