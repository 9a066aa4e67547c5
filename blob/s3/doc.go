// Package s3 opens S3 and S3-compatible buckets (MinIO, Ceph, Garage,
// gofakes3...) for Herald's blob port, through gocloud.dev/blob/s3blob, from
// URLs of the form:
//
//	s3://media-bucket?region=eu-west-1
//	s3://AKIAEXAMPLE:secret@media?endpoint=http://127.0.0.1:9000&use_path_style=true
//	s3://media?endpoint=https://s3.example.com&prefix=herald/
//
// The host is the bucket. Credentials come from the URL (access key id as
// the user, secret as the password, percent-encoded: a "/" in a secret is
// %2F) or, when the URL has none, from the AWS SDK's standard chain:
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared
// files, then the platform's role (ECS, EC2). They never appear in
// messages: the URL is shown redacted. Options:
//
//	endpoint        the server's base URL, for S3-compatible servers
//	                (default: AWS's endpoint for the region)
//	region          the region requests are signed for (default AWS_REGION,
//	                the shared config's, then us-east-1)
//	use_path_style  true to address the bucket as a path
//	                (endpoint/bucket/key), as most S3-compatible servers
//	                want; default false (bucket.endpoint/key)
//	prefix          a folder inside the bucket ("herald/") under which every
//	                key is kept, so that several installations share a bucket
//
// Requests carry checksums only where S3 requires them, which every
// S3-compatible server accepts. Open lists the bucket before returning (in
// 5 s at most) and otherwise fails with one line naming the bucket URL and
// the cause: errs.Unauthenticated when the server refused the credentials,
// errs.Unavailable when it could not be reached, errs.NotFound when it has
// no such bucket. Ping does the same check for the readiness endpoint.
//
// A bucket's HTTP client reconnects by itself after the server restarts, and
// the SDK retries a request that failed on a broken connection.
//
// It must never create buckets (that is the operator's decision, with its
// policies and lifecycle), and never log or return a secret.
package s3
