package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallax-robotics/parallax/perception"
)

var (
	// ErrFamily is returned for a model family name that is not one
	// lower-case token.
	ErrFamily = errors.New("fleet: bad model family name")
	// ErrCheckpoint is returned when the bytes pushed or pulled are not a
	// valid Parallax checkpoint.
	ErrCheckpoint = errors.New("fleet: not a valid checkpoint")
	// ErrNoRegistry is returned when the registry's buckets do not exist
	// (nothing was ever pushed) or JetStream is not enabled.
	ErrNoRegistry = errors.New("fleet: no model registry")
	// ErrNoVersion is returned for a digest (or prefix) the registry does
	// not hold, or a prefix that matches several versions.
	ErrNoVersion = errors.New("fleet: no such model version")
	// ErrNoCurrent is returned when a family has no current version (none
	// was ever promoted).
	ErrNoCurrent = errors.New("fleet: no current version")
	// ErrDigest is returned when pulled bytes do not hash to the version's
	// digest (a damaged store or a tampered object).
	ErrDigest = errors.New("fleet: digest mismatch")
	// ErrRollback is returned when the kept history has no earlier
	// version to go back to.
	ErrRollback = errors.New("fleet: nothing to roll back to")
	// ErrConflict is returned when the family's pointer changed between
	// reading and writing it (another promote or rollback won).
	ErrConflict = errors.New("fleet: the current version changed meanwhile")
)

// DefaultBucket names the registry's Object Store and KeyValue buckets
// (JetStream keeps them in streams OBJ_<name> and KV_<name>).
const DefaultBucket = "parallax-models"

// MaxHistory is the most promotions JetStream keeps per key: the audit
// trail and how far Rollback can go back.
const MaxHistory = 64

// metaKey is the object metadata key holding a Version's JSON.
const metaKey = "parallax-version"

var (
	familyRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	bucketRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	digestRe = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
)

// Config says which registry to use and, when it does not exist yet, how to
// create it.
type Config struct {
	// Bucket names the Object Store and KeyValue buckets. It defaults to
	// DefaultBucket.
	Bucket string
	// Replicas is how many servers of the cluster keep each bucket, when
	// Open creates them: 3 on a 3-server cluster survives losing one. It
	// defaults to 1.
	Replicas int
	// History is how many promotions the KeyValue bucket keeps per family,
	// 1 to MaxHistory, when Open creates it. It defaults to MaxHistory.
	History int
}

func (c Config) fill() (Config, error) {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.History == 0 {
		c.History = MaxHistory
	}
	switch {
	case !bucketRe.MatchString(c.Bucket):
		return c, fmt.Errorf("fleet: bucket name %q (want 1 to 64 of A-Z a-z 0-9 _ -)", c.Bucket)
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("fleet: replicas %d (want 1 to 5)", c.Replicas)
	case c.History < 1 || c.History > MaxHistory:
		return c, fmt.Errorf("fleet: history %d (want 1 to %d)", c.History, MaxHistory)
	}
	return c, nil
}

// Version describes one stored model version: the object's metadata.
type Version struct {
	// Family is the model family ("street-depth").
	Family string `json:"family"`
	// Digest is "sha256-" and the hex SHA-256 of the checkpoint file.
	Digest string `json:"digest"`
	// Size is the checkpoint's size in bytes.
	Size int64 `json:"size"`
	// Pushed is when the version was stored.
	Pushed time.Time `json:"pushed"`
	// Arch summarises the architecture ("320x96 depth,pose small").
	Arch string `json:"arch"`
	// Steps are the optimisation steps behind the weights (checkpoint
	// header).
	Steps int64 `json:"steps"`
	// TrainedOn says where it was trained (a robot, a host, a data set).
	TrainedOn string `json:"trained_on,omitempty"`
	// Samples is how many training samples it saw.
	Samples int64 `json:"samples,omitempty"`
	// Score is its validation score (lower is better: a held-out error
	// such as abs_rel), nil when unknown.
	Score *float64 `json:"score,omitempty"`
	// ScoreName names the score ("abs_rel").
	ScoreName string `json:"score_name,omitempty"`
	// Parent is the digest of the version it was trained from, if any.
	Parent string `json:"parent,omitempty"`
	// Notes holds anything else.
	Notes map[string]string `json:"notes,omitempty"`
}

// Short is the digest's first 12 hex digits, for humans.
func (v Version) Short() string { return ShortDigest(v.Digest) }

// ShortDigest shortens "sha256-<64 hex>" to its first 12 hex digits.
func ShortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256-")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// Pointer is one revision of a family's key: the version the fleet serves
// from then on, and the audit trail of who moved it and why.
type Pointer struct {
	// Digest is the version served.
	Digest string `json:"digest"`
	// Action is "promote" or "rollback".
	Action string `json:"action"`
	// From is the digest current before, "" for the first promotion.
	From string `json:"from,omitempty"`
	// By says who moved it (user@host, a trainer's name).
	By string `json:"by,omitempty"`
	// Reason is free text ("beats v3 on the held-out drives").
	Reason string `json:"reason,omitempty"`
	// At is when.
	At time.Time `json:"at"`
	// Revision is the KeyValue revision (set when read).
	Revision uint64 `json:"-"`
}

// Pointer actions.
const (
	ActionPromote  = "promote"
	ActionRollback = "rollback"
)

// Registry is the model registry on one JetStream domain.
type Registry struct {
	js     jetstream.JetStream
	obj    jetstream.ObjectStore
	kv     jetstream.KeyValue
	bucket string

	// wrote is the last pointer revision this Registry wrote per family.
	// KV reads are answered by any replica (direct get; a history
	// consumer may sit on a follower), and one that has not applied a
	// write yet answers from before it: reads wait for what this process
	// wrote, so a rollback is in the history read right after it.
	mu    sync.Mutex
	wrote map[string]uint64
}

// Open binds the registry's buckets, creating them (cfg's replicas and
// history) when they do not exist: for the tools that push.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Registry, error) {
	cfg, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	r, err := bind(ctx, nc, cfg.Bucket)
	if err == nil || !errors.Is(err, ErrNoRegistry) {
		return r, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	r = &Registry{js: js, bucket: cfg.Bucket}
	if r.obj, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: cfg.Bucket,
		Description: "Parallax model versions, one object per checkpoint digest", Replicas: cfg.Replicas,
		Storage: jetstream.FileStorage}); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, fmt.Errorf("fleet: creating object store %s: %w", cfg.Bucket, err)
	}
	if r.kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket,
		Description: "Parallax current model version per family (history: promotions and rollbacks)",
		History:     uint8(cfg.History), Replicas: cfg.Replicas, Storage: jetstream.FileStorage}); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, fmt.Errorf("fleet: creating key-value bucket %s: %w", cfg.Bucket, err)
	}
	// A racing creator may have won: bind what is there.
	return bind(ctx, nc, cfg.Bucket)
}

// Bind binds an existing registry and never creates one: for nodes, which
// only read (and may only be allowed to).
func Bind(ctx context.Context, nc *nats.Conn, bucket string) (*Registry, error) {
	cfg, err := Config{Bucket: bucket}.fill()
	if err != nil {
		return nil, err
	}
	return bind(ctx, nc, cfg.Bucket)
}

func bind(ctx context.Context, nc *nats.Conn, bucket string) (*Registry, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	r := &Registry{js: js, bucket: bucket}
	if r.obj, err = js.ObjectStore(ctx, bucket); err != nil {
		return nil, bindErr(bucket, err)
	}
	if r.kv, err = js.KeyValue(ctx, bucket); err != nil {
		return nil, bindErr(bucket, err)
	}
	return r, nil
}

func bindErr(bucket string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w: bucket %s does not exist (push a model first)", ErrNoRegistry, bucket)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("%w: the NATS server has no JetStream (start it with -js, or jetstream {} in its config)", ErrNoRegistry)
	}
	return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
}

// Bucket is the registry's bucket name.
func (r *Registry) Bucket() string { return r.bucket }

// CheckFamily checks a model family name: 1 to 64 of a-z 0-9 _ -,
// starting with a letter or digit (one KeyValue key, one object prefix).
func CheckFamily(family string) error {
	if !familyRe.MatchString(family) {
		return fmt.Errorf("%w: %q (want 1 to 64 of a-z 0-9 _ -, starting with a letter or digit)", ErrFamily, family)
	}
	return nil
}

// Digest returns the registry digest of checkpoint bytes.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256-" + hex.EncodeToString(sum[:])
}

func objectName(family, digest string) string { return family + "/" + digest }

// Push stores a checkpoint as a version of family, with v's metadata
// (Family, Digest, Size, Pushed, Arch and Steps are set here). The bytes
// must parse as a checkpoint. Pushing a version already stored changes
// nothing and returns the stored one with uploaded false. Push does not
// promote.
func (r *Registry) Push(ctx context.Context, family string, ckpt []byte, v Version) (_ Version, uploaded bool, err error) {
	if err := CheckFamily(family); err != nil {
		return v, false, err
	}
	c, err := perception.ParseCheckpoint(ckpt)
	if err != nil {
		return v, false, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	v.Family, v.Digest, v.Size = family, Digest(ckpt), int64(len(ckpt))
	v.Arch, v.Steps = archSummary(c.Header.Arch), c.Header.Meta.Steps
	if v.Pushed.IsZero() {
		v.Pushed = time.Now().UTC()
	}
	if old, err := r.Version(ctx, family, v.Digest); err == nil {
		return old, false, nil
	} else if !errors.Is(err, ErrNoVersion) {
		return v, false, err
	}
	meta, err := json.Marshal(v)
	if err != nil {
		return v, false, err
	}
	// A put can store bytes other than those given: nats.go's Put (v1.55)
	// reuses one message and one buffer for every chunk, and a chunk
	// republished after a "no responders" (a replica electing its leader)
	// goes out with a later chunk's bytes. So each put is read back and
	// checked against the digest, and put again (which replaces the
	// object) when it does not match.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := r.putVersion(ctx, family, v, meta, ckpt)
		if err == nil || !errors.Is(err, ErrDigest) || attempt == attempts {
			return v, true, err
		}
	}
}

// putVersion uploads one version and waits until it reads back intact.
func (r *Registry) putVersion(ctx context.Context, family string, v Version, meta, ckpt []byte) error {
	// Data and metadata go in one Put: the object becomes visible with its
	// metadata, or not at all.
	_, err := r.obj.Put(ctx, jetstream.ObjectMeta{Name: objectName(family, v.Digest), Description: v.Arch,
		Metadata: map[string]string{metaKey: string(meta)}}, bytes.NewReader(ckpt))
	if err != nil {
		return fmt.Errorf("fleet: push %s %s: %w", family, v.Short(), err)
	}
	// The Object Store answers metadata reads from any replica (direct
	// get), and one that has not applied the put yet says there is no such
	// version for a moment (seen with a server of the cluster down, for
	// the metadata and for the read of the bytes alike): wait until the
	// version and its bytes read back, so that a Promote right after Push,
	// by this process or by one it tells, finds it.
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		_, err := r.Version(ctx, family, v.Digest)
		if err == nil {
			if _, err = r.fetch(ctx, family, v.Digest); err == nil {
				return nil
			}
		}
		if errors.Is(err, ErrDigest) {
			return fmt.Errorf("fleet: pushed %s %s but it does not read back intact: %w", family, v.Short(), err)
		}
		if !errors.Is(err, ErrNoVersion) || wait > 5*time.Second {
			return fmt.Errorf("fleet: pushed %s %s but it does not read back: %w", family, v.Short(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// fetch reads a version's bytes and checks that they hash to its digest.
// A read that comes back corrupt is tried again: the ordered consumer
// behind an object read restarts on a gap, and the bytes then differ
// without the stored object being damaged.
func (r *Registry) fetch(ctx context.Context, family, digest string) ([]byte, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var data []byte
		data, err = r.obj.GetBytes(ctx, objectName(family, digest))
		switch {
		case errors.Is(err, jetstream.ErrDigestMismatch):
			err = fmt.Errorf("%w: %s %s: %w", ErrDigest, family, ShortDigest(digest), err)
		case errors.Is(err, jetstream.ErrObjectNotFound):
			return nil, fmt.Errorf("%w: %s %s (its bytes)", ErrNoVersion, family, ShortDigest(digest))
		case err != nil:
			return nil, fmt.Errorf("fleet: pull %s %s: %w", family, ShortDigest(digest), err)
		case Digest(data) != digest:
			err = fmt.Errorf("%w: %s %s: the stored bytes hash to %s", ErrDigest, family, digest, Digest(data))
		default:
			return data, nil
		}
	}
	return nil, err
}

// archSummary is a one-line description of an architecture.
func archSummary(a perception.ModelConfig) string {
	size := ""
	if d, ok := a.Nets[perception.NetDepth].(perception.DepthConfig); ok {
		size = " " + d.Size
	}
	return fmt.Sprintf("%dx%d %s%s", a.Width, a.Height, strings.Join(a.Names(), ","), size)
}

// Version returns the stored metadata of one version.
func (r *Registry) Version(ctx context.Context, family, digest string) (Version, error) {
	info, err := r.obj.GetInfo(ctx, objectName(family, digest))
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return Version{}, fmt.Errorf("%w: %s %s", ErrNoVersion, family, digest)
		}
		return Version{}, fmt.Errorf("fleet: %s %s: %w", family, ShortDigest(digest), err)
	}
	return versionOf(info)
}

func versionOf(info *jetstream.ObjectInfo) (Version, error) {
	var v Version
	raw, ok := info.Metadata[metaKey]
	if !ok {
		// Pushed without metadata (by another tool, or a push cut between
		// the data and its metadata): what the object itself says.
		fam, dig, _ := strings.Cut(info.Name, "/")
		return Version{Family: fam, Digest: dig, Size: int64(info.Size), Pushed: info.ModTime}, nil
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("fleet: object %s: bad metadata: %v", info.Name, err)
	}
	return v, nil
}

// List returns the versions of family, oldest push first.
func (r *Registry) List(ctx context.Context, family string) ([]Version, error) {
	if err := CheckFamily(family); err != nil {
		return nil, err
	}
	all, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []Version
	for _, v := range all {
		if v.Family == family {
			out = append(out, v)
		}
	}
	return out, nil
}

func (r *Registry) list(ctx context.Context) ([]Version, error) {
	infos, err := r.obj.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, fmt.Errorf("fleet: listing %s: %w", r.bucket, err)
	}
	var out []Version
	for _, info := range infos {
		v, err := versionOf(info)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pushed.Before(out[j].Pushed) })
	return out, nil
}

// Families returns every family with a stored version or a pointer, sorted.
func (r *Registry) Families(ctx context.Context) ([]string, error) {
	all, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, v := range all {
		seen[v.Family] = true
	}
	keys, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: listing %s: %w", r.bucket, err)
	}
	for k := range keys.Keys() {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Resolve turns a reference to a version of family into its full digest:
// "current" (or "") for the current version, a full digest, or a unique
// prefix of at least 6 hex digits (with or without "sha256-").
func (r *Registry) Resolve(ctx context.Context, family, ref string) (string, error) {
	if err := CheckFamily(family); err != nil {
		return "", err
	}
	if ref == "" || ref == "current" {
		p, err := r.Current(ctx, family)
		if err != nil {
			return "", err
		}
		return p.Digest, nil
	}
	if digestRe.MatchString(ref) {
		return ref, nil
	}
	hexPart := strings.TrimPrefix(ref, "sha256-")
	if len(hexPart) < 6 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: %q is not a digest (sha256-<hex>, a prefix of at least 6 hex digits, or current)", ErrNoVersion, ref)
	}
	vs, err := r.List(ctx, family)
	if err != nil {
		return "", err
	}
	var match []string
	for _, v := range vs {
		if strings.HasPrefix(strings.TrimPrefix(v.Digest, "sha256-"), hexPart) {
			match = append(match, v.Digest)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%w: %s has no version %s", ErrNoVersion, family, ref)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%w: %s matches %d versions of %s: give more digits", ErrNoVersion, ref, len(match), family)
}

// Pull returns the checkpoint bytes of a version and its metadata, after
// checking that they hash to the digest and parse as a checkpoint.
func (r *Registry) Pull(ctx context.Context, family, digest string) ([]byte, Version, error) {
	v, err := r.Version(ctx, family, digest)
	if err != nil {
		return nil, v, err
	}
	data, err := r.fetch(ctx, family, digest)
	if err != nil {
		return nil, v, err
	}
	if _, err := perception.ParseCheckpoint(data); err != nil {
		return nil, v, fmt.Errorf("%w: %s %s: %w", ErrCheckpoint, family, ShortDigest(digest), err)
	}
	return data, v, nil
}

// Current returns family's pointer (ErrNoCurrent when none was promoted).
func (r *Registry) Current(ctx context.Context, family string) (Pointer, error) {
	if err := CheckFamily(family); err != nil {
		return Pointer{}, err
	}
	var e jetstream.KeyValueEntry
	err := r.readYourWrites(ctx, family, func() (rev uint64, err error) {
		if e, err = r.kv.Get(ctx, family); err != nil {
			return 0, err
		}
		return e.Revision(), nil
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Pointer{}, fmt.Errorf("%w: %s was never promoted", ErrNoCurrent, family)
		}
		return Pointer{}, fmt.Errorf("fleet: current %s: %w", family, err)
	}
	return pointerOf(e)
}

// readYourWrites runs read, which returns the newest revision it saw,
// again for up to two seconds while that is older than the last revision
// this Registry wrote for family (see Registry.wrote).
func (r *Registry) readYourWrites(ctx context.Context, family string, read func() (uint64, error)) error {
	r.mu.Lock()
	want := r.wrote[family]
	r.mu.Unlock()
	for wait := 25 * time.Millisecond; ; wait *= 2 {
		rev, err := read()
		if errors.Is(err, jetstream.ErrKeyNotFound) && want > 0 {
			rev, err = 0, nil
		}
		if err != nil || rev >= want {
			return err
		}
		if wait > 2*time.Second {
			return fmt.Errorf("the registry answers revision %d, older than the %d written here", rev, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func pointerOf(e jetstream.KeyValueEntry) (Pointer, error) {
	var p Pointer
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return p, fmt.Errorf("fleet: %s revision %d: bad pointer: %v", e.Key(), e.Revision(), err)
	}
	if !digestRe.MatchString(p.Digest) {
		return p, fmt.Errorf("fleet: %s revision %d: bad digest %q", e.Key(), e.Revision(), p.Digest)
	}
	p.Revision = e.Revision()
	return p, nil
}

// History returns family's kept pointer revisions, oldest first (at most
// the bucket's history).
func (r *Registry) History(ctx context.Context, family string) ([]Pointer, error) {
	if err := CheckFamily(family); err != nil {
		return nil, err
	}
	var es []jetstream.KeyValueEntry
	err := r.readYourWrites(ctx, family, func() (rev uint64, err error) {
		if es, err = r.kv.History(ctx, family); err != nil || len(es) == 0 {
			return 0, err
		}
		return es[len(es)-1].Revision(), nil
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("fleet: history %s: %w", family, err)
	}
	var out []Pointer
	for _, e := range es {
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		p, err := pointerOf(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Promote makes a stored version family's current one. by and reason go
// into the audit trail. It fails with ErrConflict when another promote or
// rollback moved the pointer at the same time.
func (r *Registry) Promote(ctx context.Context, family, digest, by, reason string) (Pointer, error) {
	if err := r.versionSettled(ctx, family, digest); err != nil {
		return Pointer{}, err
	}
	cur, err := r.Current(ctx, family)
	if err != nil && !errors.Is(err, ErrNoCurrent) {
		return Pointer{}, err
	}
	if cur.Digest == digest {
		return cur, fmt.Errorf("fleet: %s %s is already the current version", family, ShortDigest(digest))
	}
	p := Pointer{Digest: digest, Action: ActionPromote, From: cur.Digest, By: by, Reason: reason, At: time.Now().UTC()}
	return r.put(ctx, family, p, cur.Revision)
}

// versionSettled checks that a version exists, asking again for about a
// second while the answer is "no such version": a replica that has not
// applied a push made a moment ago says so (see Push), and a promotion
// right after a push is the registry's usual order. A version that does
// not exist costs the caller that second.
func (r *Registry) versionSettled(ctx context.Context, family, digest string) error {
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		_, err := r.Version(ctx, family, digest)
		if !errors.Is(err, ErrNoVersion) || wait > time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Rollback points family back at the version current before the current
// one (promotions and rollbacks replayed as a stack over the kept
// history: rolling back twice goes back two promotions).
func (r *Registry) Rollback(ctx context.Context, family, by, reason string) (Pointer, error) {
	h, err := r.History(ctx, family)
	if err != nil {
		return Pointer{}, err
	}
	if len(h) == 0 {
		return Pointer{}, fmt.Errorf("%w: %s was never promoted", ErrNoCurrent, family)
	}
	st := Stack(h)
	if len(st) < 2 {
		return Pointer{}, fmt.Errorf("%w: %s has no earlier version in its kept history (%d revisions)", ErrRollback, family, len(h))
	}
	cur := h[len(h)-1]
	p := Pointer{Digest: st[len(st)-2], Action: ActionRollback, From: cur.Digest, By: by, Reason: reason, At: time.Now().UTC()}
	if _, err := r.Version(ctx, family, p.Digest); err != nil {
		return Pointer{}, fmt.Errorf("fleet: roll back %s to %s: %w", family, ShortDigest(p.Digest), err)
	}
	return r.put(ctx, family, p, cur.Revision)
}

// Stack replays a pointer history: each promotion pushes its version,
// each rollback pops one. The last element is the current version. A
// history cut by the bucket's limit starts from its oldest kept revision.
func Stack(h []Pointer) []string {
	var st []string
	for _, p := range h {
		switch {
		case p.Action == ActionRollback && len(st) > 1 && st[len(st)-2] == p.Digest:
			st = st[:len(st)-1]
		case p.Action == ActionRollback:
			st = []string{p.Digest} // its promotions fell out of the history
		default:
			st = append(st, p.Digest)
		}
	}
	return slices.Clip(st)
}

// put writes a pointer revision, only over revision rev (0: the key must
// not exist), so two writers never both win.
func (r *Registry) put(ctx context.Context, family string, p Pointer, rev uint64) (Pointer, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return p, err
	}
	var n uint64
	if rev == 0 {
		n, err = r.kv.Create(ctx, family, data)
	} else {
		n, err = r.kv.Update(ctx, family, data, rev)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence") {
			return p, fmt.Errorf("%w: %s (retry)", ErrConflict, family)
		}
		return p, fmt.Errorf("fleet: %s %s: %w", p.Action, family, err)
	}
	p.Revision = n
	r.mu.Lock()
	if r.wrote == nil {
		r.wrote = map[string]uint64{}
	}
	r.wrote[family] = max(r.wrote[family], n)
	r.mu.Unlock()
	return p, nil
}
