package migrate_test

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/migrate"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

var benchPosts = flag.Int("migrate.posts", 20000, "posts in the installation BenchmarkMove moves")

// BenchmarkMove measures moving an installation from SQLite and local files
// to PostgreSQL and S3: copy and verification, each time into a fresh
// schema and bucket. The installation is made once, through the API, with
// -migrate.posts posts scheduled ahead (each with its target and its
// schedule; one in seven with an image), 50 published ones and 60 images.
// It reports the time per 100,000 posts:
//
//	go test -run '^$' -bench Move -benchtime 3x -migrate.posts 20000 ./migrate/
func BenchmarkMove(b *testing.B) {
	storetest.PostgresURL(b) // skips without a server
	s3URL(b)
	in := install(b, shape{workspaces: 4, mediaPerWorkspace: 15, future: *benchPosts, published: 50})
	in.stop(b)
	var rows int64
	var copyTime, verifyTime time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		o := migrate.Options{
			Stores: migrate.Every(in.store(), storetest.URLFor(b, store.Postgres)),
			Media:  migrate.Pair{From: in.files(), To: s3URL(b)},
		}
		b.StartTimer()
		rep, err := migrate.Run(b.Context(), o)
		if err != nil {
			b.Fatal(err)
		}
		rows = rep.Rows()
		copyTime += rep.Copy
		verifyTime += rep.Verify
	}
	b.StopTimer()
	posts := float64(*benchPosts + 50)
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) / posts * 100000 }
	b.ReportMetric(per(copyTime), "copy-s/100k-posts")
	b.ReportMetric(per(verifyTime), "verify-s/100k-posts")
	b.ReportMetric(per(copyTime+verifyTime), "s/100k-posts")
	b.ReportMetric(float64(rows)/(copyTime/time.Duration(b.N)).Seconds(), "rows/s")
	b.Log(fmt.Sprintf("%d posts, %d rows in all tables, 60 images; per run: copy %v, verify %v",
		int(posts), rows, (copyTime / time.Duration(b.N)).Round(time.Millisecond), (verifyTime / time.Duration(b.N)).Round(time.Millisecond)))
}
