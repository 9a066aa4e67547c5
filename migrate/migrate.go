package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"

	"github.com/heraldhq/herald/blob"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/store"
	// The stores an installation moves between.
	_ "github.com/heraldhq/herald/store/postgres"
	_ "github.com/heraldhq/herald/store/sqlite"
)

// Prefixes maps each service to the prefix its tables carry: every table
// with it (outbox and inbox included) is the service's data and moves with
// it. It is read-only.
var Prefixes = map[string]string{
	config.Portal:       "portal_",
	config.Trigger:      "trigger_",
	config.Publisher:    "publisher_",
	config.Notification: "notify_",
}

// Defaults of Options.
const (
	DefaultBatch   = 500
	DefaultWorkers = 8
)

// Pair is where something moves from and to, as URLs.
type Pair struct {
	From, To string
}

// Options say what to move.
type Options struct {
	// Stores gives, for each service moved (config.Portal, ...), the store
	// its tables move from and the store they move to. Services sharing a
	// database share its URL.
	Stores map[string]Pair
	// Media, when set, moves every object of one bucket (blob URL) to
	// another.
	Media Pair
	// Batch is how many rows one INSERT carries (DefaultBatch when 0).
	Batch int
	// Workers is how many media objects are copied or checked at once
	// (DefaultWorkers when 0).
	Workers int
	// Progress, when set, is told of each step; it is never called twice
	// at once.
	Progress func(Event)
	// Log receives the messages of the services while they migrate the
	// target's tables (nothing when nil).
	Log *slog.Logger
}

// Every returns Stores for every service moving between the same two
// stores, as a whole installation does.
func Every(from, to string) map[string]Pair {
	out := map[string]Pair{}
	for s := range Prefixes {
		out[s] = Pair{From: from, To: to}
	}
	return out
}

// Step is a stage of a move.
type Step string

const (
	StepSchema Step = "schema" // the target's tables are being created or migrated
	StepCopy   Step = "copy"   // rows are being copied
	StepMedia  Step = "media"  // media objects are being copied
	StepVerify Step = "verify" // the target is being compared with the source
)

// Event tells Options.Progress how a move goes.
type Event struct {
	Step Step
	// Table is the table being copied or verified.
	Table string
	// Rows is how many rows this run inserted into Table so far (StepCopy),
	// or the table's rows in the source (StepVerify, when Done).
	Rows int64
	// Object is the media object just handled (StepMedia), and Objects how
	// many have been so far.
	Object  string
	Objects int
	// Done marks the end of Table, or of every object (StepMedia with no
	// Object).
	Done bool
}

// Run moves an installation: it creates or migrates the target's tables with
// the services' own migrations, copies every table of the services in
// Options.Stores and every media object, then verifies the copy (see
// Verify). Sources are only read. A run that stops half-way (an error,
// ctx cancelled) may simply be run again: it copies what the target lacks
// and skips the rows and objects already there.
//
// The installation must not be running: a SQLite source in use by a node is
// refused (errs.Conflict), and a node writing to another kind of source
// would go on changing what is being copied.
//
// When the copy differs from the source, Run returns the report and an
// error wrapping ErrMismatch.
func Run(ctx context.Context, o Options) (*Report, error) { return run(ctx, o, true) }

// Verify compares the target with the source without changing either: per
// table, the row counts and a checksum over the rows in primary-key order
// (values normalised, so that a SQLite BOOLEAN stored as 1 equals
// PostgreSQL's true); per media object, its presence, size, MD5 and content
// type. It returns the report, and an error wrapping ErrMismatch when
// anything differs.
func Verify(ctx context.Context, o Options) (*Report, error) { return run(ctx, o, false) }

// group is the services moving between one pair of stores.
type group struct {
	pair     Pair
	services []string
	src, dst *store.DB
	tables   []*table
	service  map[string]string // table -> service
}

// move is one run of Run or Verify.
type move struct {
	o        Options
	progress func(Event)
	rep      *Report
	stores   map[string]*store.DB // by URL, each opened once
	groups   []*group
	src, dst *gcblob.Bucket // media; nil when not moved
	objects  []object       // the source's media
	copied   map[string]int64
}

func run(ctx context.Context, o Options, copying bool) (*Report, error) {
	o, err := o.check(copying)
	if err != nil {
		return nil, err
	}
	m := &move{o: o, progress: o.Progress, rep: &Report{}, stores: map[string]*store.DB{}, copied: map[string]int64{}}
	if m.progress == nil {
		m.progress = func(Event) {}
	}
	defer m.close()
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	if copying && len(o.Stores) > 0 {
		m.progress(Event{Step: StepSchema})
		if err := migrateTargets(ctx, o); err != nil {
			return nil, err
		}
	}
	for _, g := range m.groups {
		notes, err := g.plan(ctx)
		if err != nil {
			return nil, err
		}
		m.rep.Notes = append(m.rep.Notes, notes...)
	}
	if copying {
		began := time.Now()
		if err := m.copy(ctx); err != nil {
			return nil, err
		}
		m.rep.Copy = time.Since(began)
	}
	began := time.Now()
	if err := m.verify(ctx); err != nil {
		return nil, err
	}
	m.rep.Verify = time.Since(began)
	return m.rep, m.rep.err()
}

// open opens every store and bucket, sources first, so that a running node
// is found before anything is written, and every target before any is
// written to, so that a wrong URL stops the move before it begins.
func (m *move) open(ctx context.Context) error {
	byPair := map[Pair]*group{}
	for _, s := range sortedServices(m.o.Stores) {
		p := m.o.Stores[s]
		g := byPair[p]
		if g == nil {
			g = &group{pair: p, service: map[string]string{}}
			byPair[p] = g
			m.groups = append(m.groups, g)
		}
		g.services = append(g.services, s)
	}
	var err error
	for _, g := range m.groups {
		if g.src, err = m.openStore(ctx, g.pair.From, true); err != nil {
			return fmt.Errorf("source store: %w", err)
		}
	}
	for _, g := range m.groups {
		if g.dst, err = m.openStore(ctx, g.pair.To, false); err != nil {
			return fmt.Errorf("target store: %w", err)
		}
	}
	if m.o.Media == (Pair{}) {
		return nil
	}
	if m.src, err = blob.Open(ctx, m.o.Media.From); err != nil {
		return fmt.Errorf("source media: %w", err)
	}
	if m.dst, err = blob.Open(ctx, m.o.Media.To); err != nil {
		return fmt.Errorf("target media: %w", err)
	}
	if m.objects, err = listObjects(ctx, m.src); err != nil {
		return fmt.Errorf("listing the source's media: %w", err)
	}
	if len(m.objects) == 0 {
		m.rep.Notes = append(m.rep.Notes, "the source bucket holds no media: is "+m.o.Media.From+" the right one?")
	}
	m.rep.Media = &MediaCheck{Objects: len(m.objects)}
	for _, ob := range m.objects {
		m.rep.Media.Bytes += ob.size
	}
	return nil
}

// openStore opens a store once, however many services use it, and locks a
// SQLite source.
func (m *move) openStore(ctx context.Context, rawURL string, source bool) (*store.DB, error) {
	if db, ok := m.stores[rawURL]; ok {
		return db, nil
	}
	db, err := store.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	m.stores[rawURL] = db
	if source && db.Dialect() == store.SQLite {
		if err := lockSQLite(ctx, db); err != nil {
			return nil, err
		}
	}
	return db, nil
}

func (m *move) close() {
	for _, db := range m.stores {
		_ = db.Close()
	}
	for _, b := range []*gcblob.Bucket{m.src, m.dst} {
		if b != nil {
			_ = b.Close()
		}
	}
}

// copy copies every table, parents first, then the media.
func (m *move) copy(ctx context.Context) error {
	for _, g := range m.groups {
		for _, t := range g.tables {
			if !t.inSource {
				continue
			}
			n, err := copyTable(ctx, g.src, g.dst, t, m.o.Batch, func(n int64) {
				m.progress(Event{Step: StepCopy, Table: t.name, Rows: n})
			})
			m.copied[t.name] += n
			if err != nil {
				return fmt.Errorf("copying %s (%d rows copied; run again to carry on): %w", t.name, n, err)
			}
			m.progress(Event{Step: StepCopy, Table: t.name, Rows: n, Done: true})
		}
	}
	if m.src == nil {
		return nil
	}
	done := 0
	var err error
	m.rep.Media.Copied, m.rep.Media.CopiedBytes, err = copyMedia(ctx, m.src, m.dst, m.objects, m.o.Workers, func(key string, _ bool) {
		done++
		m.progress(Event{Step: StepMedia, Object: key, Objects: done})
	})
	if err != nil {
		return fmt.Errorf("copying media (run again to carry on): %w", err)
	}
	m.progress(Event{Step: StepMedia, Objects: done, Done: true})
	return nil
}

// verify compares every table and object of the target with the source's.
func (m *move) verify(ctx context.Context) error {
	for _, g := range m.groups {
		for _, t := range g.tables {
			c, err := verifyTable(ctx, g.src, g.dst, t)
			if err != nil {
				return fmt.Errorf("verifying %s: %w", t.name, err)
			}
			c.Service, c.Copied = g.service[t.name], m.copied[t.name]
			m.rep.Tables = append(m.rep.Tables, c)
			m.progress(Event{Step: StepVerify, Table: t.name, Rows: c.SourceRows, Done: true})
		}
	}
	if m.src == nil {
		return nil
	}
	var err error
	if m.rep.Media.Problems, err = verifyMedia(ctx, m.src, m.dst, m.objects, m.o.Workers); err != nil {
		return fmt.Errorf("verifying media: %w", err)
	}
	there, err := listObjects(ctx, m.dst)
	if err != nil {
		return fmt.Errorf("listing the target's media: %w", err)
	}
	inSource := map[string]bool{}
	for _, ob := range m.objects {
		inSource[ob.key] = true
	}
	for _, ob := range there {
		if !inSource[ob.key] {
			m.rep.Media.Extra++
		}
	}
	m.progress(Event{Step: StepVerify, Objects: len(m.objects), Done: true})
	return nil
}

// plan reads both catalogs, checks that the source's schema is the one the
// target was migrated to, and lists the tables to move in copy order.
func (g *group) plan(ctx context.Context) (notes []string, err error) {
	var prefixes []string
	for _, s := range g.services {
		prefixes = append(prefixes, Prefixes[s])
	}
	sc, err := readCatalog(ctx, g.src, prefixes)
	if err != nil {
		return nil, err
	}
	dc, err := readCatalog(ctx, g.dst, prefixes)
	if err != nil {
		return nil, err
	}
	for _, s := range g.services {
		p := Prefixes[s]
		from, ok, err := schemaVersion(ctx, g.src, sc, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			notes = append(notes, fmt.Sprintf("%s: the source has no tables of this service (it never ran there)", s))
			continue
		}
		to, ok, err := schemaVersion(ctx, g.dst, dc, p)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
			return nil, errs.E(errs.Conflict, "%s's tables are missing from the target %s: run herald migrate (not a verification alone) to create them", s, g.dst.URL())
		case from > to:
			return nil, errs.E(errs.Conflict, "%s's tables in the source are at schema version %d, newer than this herald's %d: migrate with the herald version that last ran the installation", s, from, to)
		case from < to:
			return nil, errs.E(errs.Conflict, "%s's tables in the source are at schema version %d, older than this herald's %d: start the installation once with this herald version (herald serve migrates it), stop it, then migrate", s, from, to)
		}
	}
	if g.tables, err = plan(sc, dc); err != nil {
		return nil, err
	}
	for _, t := range g.tables {
		for _, s := range g.services {
			if strings.HasPrefix(t.name, Prefixes[s]) {
				g.service[t.name] = s
			}
		}
	}
	return notes, nil
}

// schemaVersion returns the latest migration applied to a service's tables
// in db, and false when the service has no version table there.
func schemaVersion(ctx context.Context, db *store.DB, c *catalog, prefix string) (int64, bool, error) {
	name := versionTable(prefix)
	if !c.all[name] {
		return 0, false, nil
	}
	var v *int64
	if err := db.QueryRow(ctx, `SELECT MAX(version_id) FROM `+quote(name)+` WHERE is_applied = ?`, true).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("reading %s in %s: %w", name, db.URL(), err)
	}
	if v == nil {
		return 0, true, nil
	}
	return *v, true, nil
}

// migrateTargets creates or migrates the target's tables the way a node
// does at start-up: it builds the moved services on their target stores
// (and the others on throw-away in-memory ones) and runs each one's
// Migrate, outbox and inbox included. Nothing is started.
func migrateTargets(ctx context.Context, o Options) error {
	key := make([]byte, 32) // seals nothing: only a node's portal needs one to exist
	_, _ = rand.Read(key)
	environ := []string{
		"HERALD_STORE__URL=sqlite://:memory:",
		"HERALD_BLOB__URL=mem://",
		"HERALD_SECRET_KEY=" + hex.EncodeToString(key),
		"HERALD_LISTEN=127.0.0.1:0",
	}
	for s, p := range o.Stores {
		environ = append(environ, "HERALD_STORE__"+strings.ToUpper(s)+"="+p.To)
	}
	cfg, err := config.Load(nil, environ)
	if err != nil {
		return fmt.Errorf("preparing the target's migrations: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("opening the target: %w", err)
	}
	defer n.Stop(context.WithoutCancel(ctx))
	services := map[string]interface{ Migrate(context.Context) error }{
		config.Portal: n.Portal, config.Trigger: n.Trigger, config.Publisher: n.Publisher, config.Notification: n.Notification,
	}
	for _, s := range config.AllServices {
		if _, moved := o.Stores[s]; !moved {
			continue
		}
		if err := services[s].Migrate(ctx); err != nil {
			return fmt.Errorf("migrating %s's tables in the target: %w", s, err)
		}
	}
	return nil
}

// check validates o and fills its defaults. A verification also wants its
// targets to exist: it creates nothing.
func (o Options) check(copying bool) (Options, error) {
	var v errs.Fields
	if len(o.Stores) == 0 && o.Media == (Pair{}) {
		v.Add("stores", "name at least one store or the media to move")
	}
	sources, targets := map[string]bool{}, map[string]bool{}
	for s, p := range o.Stores {
		key := "stores." + s
		if _, ok := Prefixes[s]; !ok {
			v.Add(key, "unknown service (known: %s)", strings.Join(config.AllServices, ", "))
			continue
		}
		checkURL(&v, key+".from", p.From, store.Schemes())
		checkExists(&v, key+".from", p.From)
		checkURL(&v, key+".to", p.To, store.Schemes())
		if !copying {
			checkExists(&v, key+".to", p.To)
		}
		if p.From != "" && p.From == p.To {
			v.Add(key+".to", "is the source itself")
		}
		sources[p.From], targets[p.To] = true, true
	}
	for s, p := range o.Stores {
		if p.To != "" && sources[p.To] {
			v.Add("stores."+s+".to", "is also a source: a store is either copied from or copied to")
		}
	}
	if o.Media != (Pair{}) {
		checkURL(&v, "media.from", o.Media.From, blob.Schemes())
		checkExists(&v, "media.from", o.Media.From)
		checkURL(&v, "media.to", o.Media.To, blob.Schemes())
		if !copying {
			checkExists(&v, "media.to", o.Media.To)
		}
		if o.Media.From != "" && o.Media.From == o.Media.To {
			v.Add("media.to", "is the source itself")
		}
	}
	if o.Batch < 0 {
		v.Add("batch", "must not be negative")
	}
	if o.Workers < 0 {
		v.Add("workers", "must not be negative")
	}
	if err := v.Err(); err != nil {
		return o, err
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	return o, nil
}

func checkURL(v *errs.Fields, field, raw string, schemes []string) {
	if raw == "" {
		v.Add(field, "must not be empty")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.Add(field, "is not a URL")
		return
	}
	if !slices.Contains(schemes, u.Scheme) {
		v.Add(field, "scheme %q is not supported (use %s)", u.Scheme, strings.Join(schemes, ", "))
	}
}

// checkExists refuses a local file or directory that does not exist:
// opening it would create an empty one, and moving (or verifying) nothing
// would look like success.
func checkExists(v *errs.Fields, field, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "sqlite" && u.Scheme != "file") {
		return
	}
	path := u.Opaque
	if path == "" {
		path = u.Host + u.Path
	}
	if path == "" || path == ":memory:" {
		return
	}
	if _, err := os.Stat(filepath.FromSlash(path)); err != nil {
		v.Add(field, "%s does not exist", path)
	}
}

func sortedServices(m map[string]Pair) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
