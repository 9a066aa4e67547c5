package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/heraldhq/herald/errs"
)

// Scheme is the URL scheme of S3 buckets.
const Scheme = "s3"

// DefaultRegion is the region of a URL that names none when the
// environment names none either. S3-compatible servers mostly ignore it,
// but requests must be signed for some region.
const DefaultRegion = "us-east-1"

// openTimeout bounds the check, at Open, that the bucket can be listed.
const openTimeout = 5 * time.Second

// options are the query options Open understands.
var options = []string{"endpoint", "prefix", "region", "use_path_style"}

// Open opens the bucket named by an s3:// URL (see the package
// documentation) and checks that it answers. The caller closes it.
func Open(ctx context.Context, u *url.URL) (*gcblob.Bucket, error) {
	redacted := Redact(u)
	c, err := parse(u)
	if err != nil {
		return nil, err
	}
	var load []func(*config.LoadOptions) error
	if c.region != "" {
		load = append(load, config.WithRegion(c.region))
	}
	if c.keyID != "" {
		load = append(load, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.keyID, c.secret, "")))
	}
	load = append(load,
		// Checksums only where S3 requires them: S3-compatible servers
		// (older MinIO, Ceph, gofakes3) do not all take the trailing
		// checksums the SDK now sends by default.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		// The SDK logs to stderr by default (at debug level, about checksums
		// that S3-compatible servers do not send); route it to the
		// process's logger instead.
		config.WithLogger(logging.LoggerFunc(func(class logging.Classification, format string, v ...any) {
			slog.Debug(fmt.Sprintf(format, v...), "component", "aws-sdk", "class", string(class))
		})),
	)
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, fmt.Sprintf("blob %s: cannot load the AWS configuration", redacted))
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		o.UsePathStyle = c.pathStyle
	})
	// s3blob's uploads go through a transfer manager that does not read the
	// client's checksum setting: it is given again.
	b, err := s3blob.OpenBucket(ctx, client, c.bucket, &s3blob.Options{RequestChecksumCalculation: cfg.RequestChecksumCalculation})
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, fmt.Sprintf("blob %s: cannot open the bucket", redacted))
	}

	// Fail at start-up, not at the first upload: the bucket must answer.
	if err := Ping(ctx, b); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("blob %s: %w", redacted, err)
	}
	if c.prefix != "" {
		b = gcblob.PrefixedBucket(b, c.prefix)
	}
	return b, nil
}

// Ping checks that b can be listed, within 5 s: that the server answers,
// accepts the credentials and has the bucket. It backs the readiness
// endpoint, and works on any gocloud bucket.
func Ping(ctx context.Context, b *gcblob.Bucket) error {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	ok, err := b.IsAccessible(ctx)
	switch {
	case err != nil && refused(err):
		return errs.Wrap(err, errs.Unauthenticated, "the server refused the credentials")
	case err != nil:
		return errs.Wrap(err, errs.Unavailable, "cannot reach the server")
	case !ok:
		return errs.E(errs.NotFound, "no such bucket")
	}
	return nil
}

// refused reports whether the server turned the request down for its
// credentials or their rights.
func refused(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "Forbidden":
		return true
	}
	return false
}

// Redact returns u for messages and logs: the secret of the URL's
// credentials and of its endpoint's, if any, replaced by "xxxxx".
func Redact(u *url.URL) string {
	r := *u
	if q := r.Query(); q.Has("endpoint") {
		if eu, err := url.Parse(q.Get("endpoint")); err == nil && eu.User != nil {
			q.Set("endpoint", eu.Redacted())
			r.RawQuery = q.Encode()
		} else if err != nil {
			q.Set("endpoint", "(not a URL)")
			r.RawQuery = q.Encode()
		}
	}
	return r.Redacted()
}

// conf is what an s3:// URL says.
type conf struct {
	bucket, endpoint, region, prefix string
	pathStyle                        bool
	keyID, secret                    string
}

func parse(u *url.URL) (conf, error) {
	var v errs.Fields
	c := conf{bucket: u.Host}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		v.Add("url", "S3 URLs have the form s3://[key_id:secret@]bucket?options; use the prefix option for a folder")
	}
	if c.bucket == "" {
		v.Add("bucket", "name the bucket as the URL's host: s3://bucket")
	}
	if u.User != nil {
		c.keyID = u.User.Username()
		var ok bool
		c.secret, ok = u.User.Password()
		if c.keyID == "" || !ok || c.secret == "" {
			v.Add("url", "credentials in the URL need both the access key id and the secret: s3://key_id:secret@bucket")
		}
	}
	q := u.Query()
	for name, vals := range q {
		if !slices.Contains(options, name) {
			v.Add(name, "unknown option (known: %s)", strings.Join(options, ", "))
			continue
		}
		if len(vals) != 1 {
			v.Add(name, "given %d times", len(vals))
		}
	}
	c.region = q.Get("region")
	c.prefix = q.Get("prefix")
	if c.prefix != "" && (strings.HasPrefix(c.prefix, "/") || !strings.HasSuffix(c.prefix, "/")) {
		v.Add("prefix", "must be a folder such as media/: no leading slash, a trailing one")
	}
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" || eu.User != nil {
			v.Add("endpoint", "must be an http or https URL such as https://s3.example.com, without credentials")
		}
		c.endpoint = e
	}
	if s := q.Get("use_path_style"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			v.Add("use_path_style", "must be true or false, not %q", s)
		}
		c.pathStyle = b
	}
	if err := v.Err(); err != nil {
		e, _ := errs.As(err)
		e.Message = fmt.Sprintf("blob URL %s is not valid", Redact(u))
		return conf{}, e
	}
	return c, nil
}
