// Package blob is Herald's blob port: media and other objects by key, in a
// gocloud.dev/blob Bucket opened by URL. Open resolves Herald's URL forms:
//
//	file://herald-data/media      a directory relative to the working directory
//	file:///var/lib/herald/media  an absolute directory
//	mem://                        in memory, for tests and throw-away runs
//	s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
//	                              an S3-compatible object store (package blob/s3)
//
// A file:// directory is created if it is missing. Keys are slash-separated
// paths ("media/<workspace>/<id>"); List with Prefix and Delimiter "/" walks
// them like folders. Errors carry gocloud's codes: gcerrors.Code(err) ==
// gcerrors.NotFound for a missing object, whatever the backend.
//
// A bucket is never part of a store transaction, so it must never be the
// only record that something exists: write the object first and then commit
// the row that names it, so that a crash leaves at worst an object nothing
// refers to, never a row whose object is missing. Nor may callers build
// file paths or URLs from keys themselves: every access goes through the
// Bucket.
package blob
