package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/migrate"
)

func migrateCmd() *cobra.Command {
	var (
		fromStore, toStore   string
		fromBlob, toBlob     string
		fromConfig, toConfig string
		verifyOnly           bool
		o                    migrate.Options
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move an installation to another store and media bucket (SQLite to PostgreSQL, files to S3), and verify the copy",
		Long: `migrate copies every service's tables from one store to another and every media
object from one bucket to another, then verifies the copy: per table the row
counts and a checksum over the rows in primary-key order, per object its
size, MD5 and content type. It prints a report and exits non-zero when
anything differs.

Stop every Herald node first: migrate reads a stopped installation. A SQLite
store still open by a running node is refused, and migrate holds it locked
while it works, so that no node starts on it half-way (a node on a
PostgreSQL source cannot be detected: make sure it is stopped). Do not start
a node on the target before migrate reports OK.

The target's tables are created with the services' own migrations; existing
rows are never changed. If migrate is interrupted (Ctrl-C, a lost
connection), run the same command again: it carries on where it stopped and
skips what is already there. --verify-only compares without copying.

Where from and to: the flags, or two configuration files (YAML, as for herald
serve --config; the files alone, without HERALD_* variables): each service's
store (store.url, or its own store.<service>) and blob.url. A flag wins over
a file. Without a blob on both sides, media stays where it is.

The target node must use the same secret key as the source (it decrypts the
stored account tokens): keep the data directory's secret.key, or set
secret_key to its content.`,
		Example: `  # from herald serve's defaults to PostgreSQL and S3
  herald migrate \
    --from-store sqlite://herald-data/herald.db --to-store 'postgres://herald:secret@db:5432/herald' \
    --from-blob file://herald-data/media --to-blob 's3://herald-media?region=eu-west-1'

  # from one node's configuration to another's
  herald migrate --from-config herald.yaml --to-config herald-postgres.yaml

  # check an earlier move again
  herald migrate --from-config herald.yaml --to-config herald-postgres.yaml --verify-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			stderr := cmd.ErrOrStderr()

			var v errs.Fields
			from, fromKey := configFile(&v, "from-config", fromConfig)
			to, toKey := configFile(&v, "to-config", toConfig)
			if err := v.Err(); err != nil {
				return fail(cmd, err)
			}
			o.Stores = map[string]migrate.Pair{}
			for _, s := range config.AllServices {
				p := migrate.Pair{From: fromStore, To: toStore}
				if p.From == "" && from != nil {
					p.From = from.Store.URLFor(s)
				}
				if p.To == "" && to != nil {
					p.To = to.Store.URLFor(s)
				}
				if p.From == "" {
					v.Add("from-store", "name the store to move from (or --from-config)")
				}
				if p.To == "" {
					v.Add("to-store", "name the store to move to (or --to-config)")
				}
				o.Stores[s] = p
			}
			o.Media = migrate.Pair{From: fromBlob, To: toBlob}
			if o.Media.From == "" && from != nil {
				o.Media.From = from.Blob.URL
			}
			if o.Media.To == "" && to != nil {
				o.Media.To = to.Blob.URL
			}
			switch {
			case fromBlob != "" && o.Media.To == "":
				v.Add("to-blob", "name the bucket the media moves to, since --from-blob names where it is")
			case toBlob != "" && o.Media.From == "":
				v.Add("from-blob", "name the bucket the media moves from, since --to-blob names where it goes")
			case o.Media.From == "" || o.Media.To == "" || o.Media.From == o.Media.To:
				// One configuration alone names a bucket (the other side is
				// given by --*-store), or both name the same one (both keep
				// the data directory's media): nothing to move.
				// The same bucket on both sides (both configurations keep
				// the data directory's media): nothing to move.
				o.Media = migrate.Pair{}
			}
			if fromKey != "" && toKey != "" && fromKey != toKey {
				v.Add("to-config", "its secret key differs from the source's: the target could not decrypt the stored account tokens; set secret_key to the source's, or use the same secret.key")
			}
			if err := v.Err(); err != nil {
				return fail(cmd, err)
			}
			switch {
			case from != nil && to != nil && fromKey != "" && toKey == "":
				fmt.Fprintf(stderr, "note: the target configuration has no secret key yet: give its node the source's (copy %s, or set secret_key), or it cannot decrypt the stored account tokens\n",
					filepath.Join(from.DataDir, "secret.key"))
			case from == nil || to == nil:
				fmt.Fprintln(stderr, "note: start the target node with the source's secret key (the same data directory's secret.key, or secret_key set to it): it decrypts the stored account tokens")
			}
			if o.Media == (migrate.Pair{}) {
				fmt.Fprintln(stderr, "note: media is not moved (give --from-blob and --to-blob, or blob.url in the configurations)")
			}

			o.Progress = progressPrinter(stderr)
			run, verb := migrate.Run, "moving"
			if verifyOnly {
				run, verb = migrate.Verify, "verifying"
			}
			fmt.Fprintf(stderr, "%s the installation; every Herald node on it must be stopped\n", verb)
			rep, err := run(ctx, o)
			if rep != nil {
				_, _ = rep.WriteTo(cmd.OutOrStdout())
			}
			if err != nil {
				return fail(cmd, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&fromStore, "from-store", "", "store URL to move from, e.g. sqlite://herald-data/herald.db")
	f.StringVar(&toStore, "to-store", "", "store URL to move to, e.g. postgres://user:password@host:5432/herald")
	f.StringVar(&fromBlob, "from-blob", "", "media bucket URL to move from, e.g. file://herald-data/media")
	f.StringVar(&toBlob, "to-blob", "", "media bucket URL to move to, e.g. s3://bucket?region=eu-west-1")
	f.StringVar(&fromConfig, "from-config", "", "configuration file of the installation to move from")
	f.StringVar(&toConfig, "to-config", "", "configuration file of the installation to move to")
	f.IntVar(&o.Batch, "batch", migrate.DefaultBatch, "rows per INSERT")
	f.IntVar(&o.Workers, "workers", migrate.DefaultWorkers, "media objects copied at once")
	f.BoolVar(&verifyOnly, "verify-only", false, "compare the target with the source, copy nothing")
	return cmd
}

// configFile loads a configuration file for migrate, with its secret key if
// one is set or already generated (without generating one). An empty path
// gives nil.
func configFile(v *errs.Fields, flag, path string) (*config.Config, string) {
	if path == "" {
		return nil, ""
	}
	fs := pflag.NewFlagSet(flag, pflag.ContinueOnError)
	config.Flags(fs)
	_ = fs.Set("config", path)
	c, err := config.Load(fs, nil)
	if err != nil {
		v.Add(flag, "%v", err)
		return nil, ""
	}
	key := c.SecretKey
	if key == "" {
		if b, err := os.ReadFile(filepath.Join(c.DataDir, "secret.key")); err == nil {
			key = string(bytes.TrimSpace(b))
		}
	}
	return &c, key
}

// progressPrinter reports a move as it goes: each table when done, and
// every few seconds in a long one.
func progressPrinter(w io.Writer) func(migrate.Event) {
	began := time.Now()
	last := time.Now()
	return func(e migrate.Event) {
		now := time.Now()
		switch {
		case e.Step == migrate.StepSchema:
			fmt.Fprintln(w, "creating or migrating the target's tables")
		case e.Step == migrate.StepCopy && e.Done:
			fmt.Fprintf(w, "copied %s: %d rows (%s)\n", e.Table, e.Rows, now.Sub(began).Round(time.Millisecond))
			last = now
		case e.Step == migrate.StepCopy && now.Sub(last) > 5*time.Second:
			fmt.Fprintf(w, "copying %s: %d rows so far\n", e.Table, e.Rows)
			last = now
		case e.Step == migrate.StepMedia && e.Done:
			fmt.Fprintf(w, "media: %d objects handled (%s)\n", e.Objects, now.Sub(began).Round(time.Millisecond))
			last = now
		case e.Step == migrate.StepMedia && now.Sub(last) > 5*time.Second:
			fmt.Fprintf(w, "media: %d objects so far\n", e.Objects)
			last = now
		case e.Step == migrate.StepVerify && e.Table == "" && e.Done:
			fmt.Fprintln(w, "verified the media")
		}
	}
}
