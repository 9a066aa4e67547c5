package s3_test

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/blob/blobtest"
	"github.com/heraldhq/herald/blob/s3"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/id"
	"github.com/heraldhq/herald/internal/servertest"
)

// endpoint returns the test S3 server's URL, skipping the test (failing it
// under CI=true) when nothing answers there. The server (gofakes3 with
// -autobucket) takes any bucket name and any credentials.
func endpoint(t testing.TB) string {
	t.Helper()
	return "http://" + servertest.Addr(t, "HERALD_TEST_S3_ADDR", s3Addr(t))
}

// s3Addr is the host:port of HERALD_TEST_S3_ENDPOINT (default
// http://127.0.0.1:9000).
func s3Addr(t testing.TB) string {
	e := os.Getenv("HERALD_TEST_S3_ENDPOINT")
	if e == "" {
		return "127.0.0.1:9000"
	}
	u, err := url.Parse(e)
	if err != nil {
		t.Fatalf("HERALD_TEST_S3_ENDPOINT=%q: %v", e, err)
	}
	return u.Host
}

// bucketURL is an s3:// URL of the test server with credentials in it.
func bucketURL(t testing.TB, bucket, extra string) string {
	return "s3://herald:s3cret@" + bucket + "?endpoint=" + url.QueryEscape(endpoint(t)) +
		"&region=us-east-1&use_path_style=true" + extra
}

func open(t testing.TB, rawURL string) *gcblob.Bucket {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	rawURL := bucketURL(t, "herald-test", "")
	blobtest.Run(t, func(t *testing.T) *gcblob.Bucket { return open(t, rawURL) })
}

func TestConformanceWithPrefix(t *testing.T) {
	t.Parallel()
	rawURL := bucketURL(t, "herald-test", "&prefix=installation-a/")
	blobtest.Run(t, func(t *testing.T) *gcblob.Bucket { return open(t, rawURL) })
}

// A prefix keeps an installation's keys in its own folder of a shared
// bucket.
func TestPrefixIsAFolder(t *testing.T) {
	t.Parallel()
	folder := id.New("inst") + "/"
	whole := open(t, bucketURL(t, "herald-test", ""))
	defer whole.Close()
	inside := open(t, bucketURL(t, "herald-test", "&prefix="+folder))
	defer inside.Close()
	if err := inside.WriteAll(t.Context(), "media/a.png", []byte("png"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := whole.ReadAll(t.Context(), folder+"media/a.png")
	if err != nil || string(got) != "png" {
		t.Errorf("the object is not under %s: %q, %v", folder, got, err)
	}
}

// Without credentials in the URL, the SDK's standard environment variables
// are used. (The test server takes any credentials; what this shows is
// that Open finds some and signs with them.)
func TestCredentialsFromEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "herald-env")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-s3cret")
	t.Setenv("AWS_REGION", "eu-west-1")
	b := open(t, "s3://herald-test?endpoint="+url.QueryEscape(endpoint(t))+"&use_path_style=true")
	defer b.Close()
	if err := b.WriteAll(t.Context(), id.New("envcreds"), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	t.Parallel()
	e := url.QueryEscape(endpoint(t))
	tests := []struct {
		url   string
		field string
	}{
		{"s3://", "bucket"},
		{"s3://?endpoint=" + e, "bucket"},
		{"s3://bucket/folder?endpoint=" + e, "url"},
		{"s3://key-only@bucket?endpoint=" + e, "url"},
		{"s3://key:@bucket?endpoint=" + e, "url"},
		{"s3://bucket?endpoint=127.0.0.1:9000", "endpoint"},
		{"s3://bucket?endpoint=ftp://127.0.0.1:9000", "endpoint"},
		{"s3://bucket?endpoint=" + url.QueryEscape("http://u:s3cret@127.0.0.1:9000"), "endpoint"},
		{"s3://bucket?endpoint=" + e + "&use_path_style=yes-please", "use_path_style"},
		{"s3://bucket?endpoint=" + e + "&prefix=/abs/", "prefix"},
		{"s3://bucket?endpoint=" + e + "&prefix=no-slash", "prefix"},
		{"s3://bucket?endpoint=" + e + "&region=a&region=b", "region"},
		{"s3://bucket?endpoint=" + e + "&colour=blue", "colour"},
		{"s3://key:s3cret@bucket?endpoint=" + e + "&colour=blue", "colour"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s3.Open(t.Context(), u)
			if err == nil {
				_ = b.Close()
				t.Fatalf("Open(%q) succeeded, want an error about %q", tc.url, tc.field)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Fields[tc.field] == "" {
				t.Errorf("Open(%q) = %v, want an Invalid error naming %q", tc.url, err, tc.field)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) = %v, shows the secret", tc.url, err)
			}
		})
	}
}

// A node whose object store is down says so at start-up, within seconds, in
// one line naming the port, the bucket URL (secret redacted) and the cause.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	rawURL := "s3://herald:s3cret@media?endpoint=http://" + closed + "&use_path_style=true"
	u, _ := url.Parse(rawURL)
	start := time.Now()
	b, err := s3.Open(t.Context(), u)
	if err == nil {
		_ = b.Close()
		t.Fatal("Open succeeded, want an error")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v, want a few seconds at most", d)
	}
	msg := err.Error()
	want := "blob s3://herald:xxxxx@media?endpoint=http://" + closed + "&use_path_style=true: unavailable: cannot reach the server: "
	if !errs.Is(err, errs.Unavailable) || !strings.HasPrefix(msg, want) || !strings.Contains(msg, "connection refused") {
		t.Errorf("Open = %q\nwant Unavailable, starting %q, with the cause", msg, want)
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
		t.Errorf("Open = %q, want one line without the secret", msg)
	}
}

// Ping backs readiness: fine while the bucket answers, an error once closed.
func TestPing(t *testing.T) {
	t.Parallel()
	b := open(t, bucketURL(t, "herald-test", ""))
	if err := s3.Ping(t.Context(), b); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	_ = b.Close()
	if err := s3.Ping(t.Context(), b); err == nil {
		t.Error("Ping of a closed bucket succeeded")
	}
}

// The real restart: the S3 server stops and starts again (the test server
// keeps objects in memory, so they are gone), and the same bucket works
// again without being reopened.
func TestRestartS3(t *testing.T) {
	servertest.RequireRestarts(t)
	b := open(t, bucketURL(t, "herald-test", ""))
	defer b.Close()
	ctx := t.Context()
	k := id.New("restart")
	if err := b.WriteAll(ctx, k, []byte("before"), nil); err != nil {
		t.Fatal(err)
	}
	servertest.Restart(t, "s3")
	// The first calls after the restart succeed: no retry by the caller.
	if err := s3.Ping(ctx, b); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	if err := b.WriteAll(ctx, k, []byte("after"), nil); err != nil {
		t.Fatalf("WriteAll after the restart: %v", err)
	}
	got, err := b.ReadAll(ctx, k)
	if err != nil || !bytes.Equal(got, []byte("after")) {
		t.Fatalf("ReadAll = %q, %v; want after", got, err)
	}
}
