package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
)

// Refusal reasons: each a sentinel, a metric label and an API error code.
var (
	ErrMalformed     = errors.New("malformed record")
	ErrTooLarge      = errors.New("record too large")
	ErrUnknownSigner = errors.New("unknown signer")
	ErrWrongRole     = errors.New("signer has the wrong role")
	ErrWrongCluster  = errors.New("patient's home is not this cloud's cluster")
	ErrBadSignature  = errors.New("bad signature")
	ErrBadHeader     = errors.New("bad record header")
	ErrUnavailable   = errors.New("ledger unavailable")
	ErrStore         = errors.New("store failure")
	// ErrClosed: the service was closed before the record was durable.
	ErrClosed = errors.New("cloud closed")
)

// ErrAnchorMismatch is returned by New when the store's log is not an
// extension of the checkpoint the ledger has anchored: the store lost
// acknowledged data or is another cloud's.
var ErrAnchorMismatch = errors.New("store disagrees with the anchored checkpoint")

// reason returns the metric label and API code of a refusal.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrNotLeader):
		return cloudapi.CodeNotLeader
	case errors.Is(err, ErrTooLarge):
		return cloudapi.CodeTooLarge
	case errors.Is(err, ErrUnknownSigner):
		return cloudapi.CodeUnknownSigner
	case errors.Is(err, ErrWrongRole):
		return cloudapi.CodeWrongRole
	case errors.Is(err, ErrWrongCluster):
		return cloudapi.CodeWrongCluster
	case errors.Is(err, ErrBadSignature):
		return cloudapi.CodeBadSignature
	case errors.Is(err, ErrBadHeader):
		return cloudapi.CodeBadHeader
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return cloudapi.CodeUnavailable
	case errors.Is(err, ErrStore):
		return cloudapi.CodeStore
	}
	return cloudapi.CodeMalformed
}

// Config configures a Service.
type Config struct {
	Key     *identity.SigningKey // the cloud's key (role cloud), registered on the ledger
	Store   Store
	Ledger  Ledger
	Log     *slog.Logger
	Metrics prometheus.Registerer // nil: not registered anywhere

	// A block is sealed (and its checkpoint anchored) when BlockRecords
	// entries are waiting or BlockInterval has passed since the last seal.
	BlockRecords  uint64
	BlockInterval time.Duration
	// AccessBlockInterval is the access log's BlockInterval (default
	// BlockInterval). The access log is an audit trail: anchoring it less
	// often than the records saves chain bytes (each anchor costs a block
	// and CometBFT's proof block after it).
	AccessBlockInterval time.Duration
	// MaxBatch bounds the records of one durable commit.
	MaxBatch int
	// ReceiptBound is how long after storing a record the cloud promises,
	// in its receipt, an anchored checkpoint covering it (default 30 s, and
	// at least 10 block intervals).
	ReceiptBound time.Duration
	// ClockSkew bounds how far in the future a record's time, or how far
	// from now a read request's time, may be.
	ClockSkew time.Duration
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time

	// SilenceTick is how often the sequencer looks for gateways whose
	// heartbeats stopped past their bound (default 250 ms); negative:
	// never by itself (tests call CheckSilence on their clock).
	SilenceTick time.Duration

	// Lease, if not nil, makes this process one of several that share
	// Store (see Lease): it sequences (appends, seals, anchors) only while
	// it holds the lease; otherwise it follows the store, serves what can
	// be served from it, and refuses writes with ErrNotLeader, naming the
	// sequencer's URL. Nil: this process alone writes Store.
	Lease Lease
	// URL is this process's API as clients are told to reach it while it
	// sequences (with Lease).
	URL string
	// LeaseTTL is how long the lease lasts unrenewed (default
	// DefaultLeaseTTL): after a sequencer dies, another takes over about
	// that long later.
	LeaseTTL time.Duration
}

// Service is a running cloud.
type Service struct {
	cfg     Config
	id      identity.ID
	cluster uint32
	log     *slog.Logger
	m       *metrics
	records *logState
	access  *logState

	epochMu sync.Mutex
	epochs  map[identity.ID]uint64 // the highest epoch seen on the ledger, per patient

	alertHub    *alertHub
	life        *lifecycleState // alerts' states (lifecycle.go)
	signers     *limiters       // per-requester rate of signed requests (NewServer sets it)
	contractsMu sync.Mutex
	contracts   map[[32]byte]cachedContract
	eraseMu     sync.Mutex // held by an erasure, and by each commit of the records log

	// The sequencer's term: set while this process sequences. Writers
	// hold roleMu for reading while they hand rows to a committer.
	roleMu sync.RWMutex
	term   *term
	leader atomic.Pointer[string] // the sequencer's URL, as last known ("": unknown)
	holder string                 // this process's ID in the lease
	fenced chan struct{}          // a commit found that the lease moved on

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{} // closed once Close has stopped the committers
	closeOnce sync.Once
}

// logState is one Merkle log with its committer and what is anchored of it.
type logState struct {
	id uint8
	// log is replaced (by the committer) only when a commit whose outcome
	// was unknown leaves the store ahead of it.
	log   atomic.Pointer[merklelog.Log]
	store *logStore
	queue chan *pending

	mu       sync.Mutex
	inflight map[[32]byte][]chan ack // records being committed, for duplicate uploads
	anchored merklelog.Checkpoint
	sealed   time.Time
	recent   recentCommits // the records of the last commits, for duplicate checks done in batches
}

// pending is a row waiting for its durable commit.
type pending struct {
	rec   StoredRecord
	entry cloudapi.AccessEntry
	// more are entries committed with entry, in the same batch, all or
	// none (logAccessBatch): its ack's index is entry's, theirs follow.
	more []cloudapi.AccessEntry
	done chan ack
}

// size is the rows p commits.
func (p *pending) size() int { return 1 + len(p.more) }

type ack struct {
	index uint64
	err   error
}

// New opens the cloud: it reopens its logs from the store, checks them
// against what the ledger has anchored, and starts committing and anchoring.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Key.Role().Want(identity.RoleCloud); err != nil {
		return nil, fmt.Errorf("cloud key: %w", err)
	}
	if cfg.BlockRecords == 0 {
		cfg.BlockRecords = 1024
	}
	if cfg.BlockInterval == 0 {
		cfg.BlockInterval = time.Second
	}
	if cfg.AccessBlockInterval == 0 {
		cfg.AccessBlockInterval = cfg.BlockInterval
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.ReceiptBound == 0 {
		cfg.ReceiptBound = max(30*time.Second, 10*cfg.BlockInterval)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	s := &Service{cfg: cfg, id: cfg.Key.Public().ID(), log: cfg.Log, m: newMetrics(cfg.Metrics), epochs: map[identity.ID]uint64{}, done: make(chan struct{}),
		alertHub: newAlertHub(), life: newLifecycleState(), contracts: map[[32]byte]cachedContract{}, fenced: make(chan struct{}, 1), holder: newHolderID()}
	s.leader.Store(new(string))
	me, err := cfg.Ledger.Member(ctx, s.id)
	if err != nil {
		return nil, fmt.Errorf("cloud %s is not registered on the ledger: %w", s.id, err)
	}
	if me.Role != identity.RoleCloud {
		return nil, fmt.Errorf("cloud %s is registered as a %s", s.id, me.Role)
	}
	s.cluster = me.Home
	for _, lid := range []uint8{LogRecords, LogAccess} {
		ls, err := s.openLog(ctx, lid)
		if err != nil {
			return nil, err
		}
		if lid == LogRecords {
			s.records = ls
		} else {
			s.access = ls
		}
	}
	if err := s.alertHub.reload(cfg.Store, s.records.log.Load().Size()); err != nil {
		return nil, fmt.Errorf("reload recent alerts: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if cfg.Lease == nil {
		s.startTerm(rctx, 0)
	} else {
		// The first attempt at the lease is made before New returns, so
		// that a lone process sequences as soon as it is started.
		first := make(chan struct{})
		s.wg.Add(1)
		go s.elect(rctx, first)
		<-first
	}
	s.wg.Add(1)
	go s.forgetNonces(rctx)
	return s, nil
}

func (s *Service) openLog(ctx context.Context, lid uint8) (*logState, error) {
	ls := &logState{id: lid, store: &logStore{st: s.cfg.Store, log: lid}, queue: make(chan *pending, 4*s.cfg.MaxBatch),
		inflight: map[[32]byte][]chan ack{}, sealed: s.cfg.Now()}
	l, err := merklelog.Open(ls.store)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", logName(lid), err)
	}
	ls.log.Store(l)
	ls.anchored = merklelog.Checkpoint{Root: merklelog.EmptyRoot()}
	a, err := s.cfg.Ledger.Anchored(ctx, lid)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("%s log: what is anchored: %w", logName(lid), err)
	default:
		if err := checkAnchored(lid, l, a.Checkpoint); err != nil {
			return nil, err
		}
		ls.anchored = a.Checkpoint
	}
	s.m.logSize.WithLabelValues(logName(lid)).Set(float64(l.Size()))
	s.m.anchorLag.WithLabelValues(logName(lid)).Set(float64(l.Size() - ls.anchored.Size))
	return ls, nil
}

// checkAnchored checks that the ledger's anchored checkpoint a is a
// checkpoint of log l: what the ledger has anchored must be a prefix of
// what the store holds.
func checkAnchored(lid uint8, l *merklelog.Log, a merklelog.Checkpoint) error {
	if a.Size > l.Size() {
		return fmt.Errorf("%s log: %w: the ledger anchors size %d but the store holds only %d entries: the store lost data", logName(lid), ErrAnchorMismatch, a.Size, l.Size())
	}
	cp, err := l.CheckpointAt(a.Size)
	if err != nil {
		return fmt.Errorf("%s log: %w", logName(lid), err)
	}
	if cp != a {
		return fmt.Errorf("%s log: %w: the stored log's root at size %d differs from the anchored one", logName(lid), ErrAnchorMismatch, cp.Size)
	}
	return nil
}

// Close stops the service. Everything acknowledged is already durable;
// what is not yet anchored is anchored after the next start. Uploads and
// reads still waiting for a commit are answered with ErrClosed.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.cancel() // with a Lease, the election ends the term and releases the lease
		if s.cfg.Lease == nil {
			s.endTerm(ErrClosed)
		}
		s.wg.Wait()
		close(s.done)
	})
	return nil
}

// await waits for a commit's answer; once the service is closed no answer
// comes but those already sent.
func (s *Service) await(ctx context.Context, w chan ack) (ack, error) {
	select {
	case a := <-w:
		return a, nil
	case <-ctx.Done():
		return ack{}, ctx.Err()
	case <-s.done:
		select {
		case a := <-w:
			return a, nil
		default:
			return ack{}, ErrClosed
		}
	}
}

// ID returns the cloud's actor ID.
func (s *Service) ID() identity.ID { return s.id }

// Ingest verifies and durably stores uploaded records, returning one cloudapi.Ack
// each, in order, once every accepted one is durable. It verifies the
// records concurrently.
func (s *Service) Ingest(ctx context.Context, raws [][]byte) []cloudapi.Ack {
	ctx, span := startIngest(ctx, len(raws))
	acks := make([]cloudapi.Ack, len(raws))
	defer func() { endIngest(span, acks) }()
	waits := make([]chan ack, len(raws))
	authors := &authorBudget{seen: map[identity.ID]bool{}}
	var wg sync.WaitGroup
	for lo := 0; lo < len(raws); lo += verifyBatch {
		hi := min(lo+verifyBatch, len(raws))
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, errs := s.checkBatch(ctx, raws[lo:hi], authors)
			known := s.lookup(recs, errs)
			for j, rec := range recs {
				i := lo + j
				if errs[j] != nil {
					acks[i] = s.refuse(rec, errs[j])
					continue
				}
				var err error
				acks[i].ID = rec.ID
				waits[i], acks[i].Duplicate, acks[i].Index, err = s.enqueue(rec, known)
				if err != nil {
					acks[i] = s.refuse(rec, err)
					continue
				}
				// Before the commit: the sealer may anchor the record
				// before this call returns.
				ingests.Put(acks[i].Index, span.SpanContext())
			}
		}()
	}
	wg.Wait()
	for i, w := range waits {
		if w == nil {
			continue
		}
		a, err := s.await(ctx, w)
		switch {
		case errors.Is(err, ErrClosed):
			acks[i] = s.refuse(&StoredRecord{ID: acks[i].ID}, fmt.Errorf("not acknowledged: %w", err))
		case err != nil:
			acks[i] = cloudapi.Ack{ID: acks[i].ID, Code: cloudapi.CodeUnavailable, Error: "not acknowledged: " + err.Error()}
		case errors.Is(a.err, ErrClosed), errors.Is(a.err, ErrNotLeader):
			acks[i] = s.refuse(&StoredRecord{ID: acks[i].ID}, fmt.Errorf("not acknowledged: %w", a.err))
		case a.err != nil:
			acks[i] = s.refuse(&StoredRecord{ID: acks[i].ID}, fmt.Errorf("%w: %w", ErrStore, a.err))
		default:
			acks[i].Index = a.index
		}
	}
	return acks
}

// verifyBatch is how many records' signatures are checked as one batch (and
// on one core): batches of 64 verify about twice as fast per signature as
// one by one, and larger ones gain nothing more.
const verifyBatch = 64

func (s *Service) refuse(rec *StoredRecord, err error) cloudapi.Ack {
	r := reason(err)
	s.m.refused.WithLabelValues(r).Inc()
	a := cloudapi.Ack{Code: r, Error: err.Error()}
	if rec != nil {
		a.ID = rec.ID
	}
	return a
}

// checkBatch verifies uploaded records against the ledger, their
// signatures as one batch. It never stores. It returns, per record, what is
// known of it (nil if it did not even parse) and why it is refused.
func (s *Service) checkBatch(ctx context.Context, raws [][]byte, budget *authorBudget) ([]*StoredRecord, []error) {
	recs := make([]*StoredRecord, len(raws))
	errs := make([]error, len(raws))
	var (
		idx     []int
		parsed  []*record.Record
		authors []identity.VerifyingKey
		members []*ledger.Member
	)
	for i, raw := range raws {
		r, rec, m, key, err := s.parse(ctx, raw, budget)
		recs[i], errs[i] = rec, err
		if err == nil {
			idx, parsed, authors, members = append(idx, i), append(parsed, r), append(authors, key), append(members, m)
		}
	}
	hs, verrs := record.VerifyBatch(parsed, authors)
	for j, i := range idx {
		if err := verrs[j]; err != nil {
			switch {
			case errors.Is(err, identity.ErrBadSignature):
				errs[i] = fmt.Errorf("%w: %w", ErrBadSignature, err)
			case errors.Is(err, identity.ErrWrongRole):
				errs[i] = fmt.Errorf("%w: %w", ErrWrongRole, err)
			default:
				errs[i] = fmt.Errorf("%w: %w", ErrBadHeader, err)
			}
			continue
		}
		errs[i] = s.admit(ctx, hs[j], members[j])
		recs[i].Received = s.cfg.Now().UnixMilli()
	}
	return recs, errs
}

// MaxUploadAuthors bounds the distinct authors of one upload: each may
// cost a ledger query before any signature is checked. A gateway uploads
// its patient's records, one author; the records of further authors are
// refused as unknown signers (a code the uploader retries).
const MaxUploadAuthors = 64

// authorBudget counts the distinct authors of one upload.
type authorBudget struct {
	mu   sync.Mutex
	seen map[identity.ID]bool
}

// allow reports whether author may be looked up.
func (b *authorBudget) allow(author identity.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[author] {
		return true
	}
	if len(b.seen) >= MaxUploadAuthors {
		return false
	}
	b.seen[author] = true
	return true
}

// parse decodes one uploaded record and finds its author on the ledger.
func (s *Service) parse(ctx context.Context, raw []byte, authors *authorBudget) (*record.Record, *StoredRecord, *ledger.Member, identity.VerifyingKey, error) {
	var none identity.VerifyingKey
	if len(raw) > record.MaxRecordSize {
		return nil, nil, nil, none, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), record.MaxRecordSize)
	}
	r, err := record.ParseRecord(raw)
	if err != nil {
		if errors.Is(err, codec.ErrTooLarge) {
			return nil, nil, nil, none, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, nil, nil, none, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	h, err := r.Header()
	if err != nil {
		return nil, nil, nil, none, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rec := &StoredRecord{ID: r.ID(), Patient: h.Patient, Bytes: raw}
	if !authors.allow(h.Author) {
		return nil, rec, nil, none, fmt.Errorf("%w: author %s: more than %d authors in one upload", ErrUnknownSigner, h.Author, MaxUploadAuthors)
	}
	author, err := s.cfg.Ledger.Member(ctx, h.Author)
	if errors.Is(err, ErrNotFound) {
		return nil, rec, nil, none, fmt.Errorf("%w: author %s is not registered", ErrUnknownSigner, h.Author)
	}
	if err != nil {
		return nil, rec, nil, none, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if author.Role != identity.RolePatient && author.Role != identity.RoleProvider {
		return nil, rec, nil, none, fmt.Errorf("%w: author is a %s", ErrWrongRole, author.Role)
	}
	key, err := author.VerifyingKey()
	if err != nil {
		return nil, rec, nil, none, fmt.Errorf("%w: %v", ErrUnknownSigner, err)
	}
	return r, rec, author, key, nil
}

// admit checks a verified record against the ledger: its patient in this
// cloud's cluster, its time, its epoch.
func (s *Service) admit(ctx context.Context, h record.Header, author *ledger.Member) error {
	patient := author
	if author.Role == identity.RoleProvider {
		var err error
		if patient, err = s.cfg.Ledger.Member(ctx, h.Patient); err != nil {
			return fmt.Errorf("%w: patient %s: %v", ErrBadHeader, h.Patient, err)
		}
		if patient.Role != identity.RolePatient {
			return fmt.Errorf("%w: %s is not a patient", ErrBadHeader, h.Patient)
		}
	}
	if patient.Home != s.cluster {
		return fmt.Errorf("%w: patient of cluster %d, cloud of %d", ErrWrongCluster, patient.Home, s.cluster)
	}
	if t := time.UnixMilli(h.Time); t.After(s.cfg.Now().Add(s.cfg.ClockSkew)) {
		return fmt.Errorf("%w: record time %s is in the future", ErrBadHeader, t.UTC().Format(time.RFC3339))
	}
	if h.Epoch > 0 {
		return s.checkEpoch(ctx, h.Patient, h.Epoch)
	}
	return nil
}

// checkEpoch refuses a record of an epoch the patient has not started on
// the ledger. Epochs only grow, so the ledger is asked only when a record
// names an epoch beyond the one last seen.
func (s *Service) checkEpoch(ctx context.Context, patient identity.ID, epoch uint64) error {
	s.epochMu.Lock()
	known := s.epochs[patient]
	s.epochMu.Unlock()
	if epoch <= known {
		return nil
	}
	cur, err := s.cfg.Ledger.Epoch(ctx, patient)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.epochMu.Lock()
	if cur > s.epochs[patient] && len(s.epochs) < maxEpochs {
		s.epochs[patient] = cur
	}
	s.epochMu.Unlock()
	if epoch > cur {
		return fmt.Errorf("%w: epoch %d, but the patient's current epoch is %d", ErrBadHeader, epoch, cur)
	}
	return nil
}

// maxEpochs bounds the epoch cache.
const maxEpochs = 1 << 20

// enqueue hands a checked record to the committer, unless it is stored
// already or being committed (then the upload waits for that commit).
// known, if not nil, is what a batched lookup found of the upload's
// records in the store.
func (s *Service) enqueue(rec *StoredRecord, known *lookup) (wait chan ack, dup bool, index uint64, err error) {
	s.roleMu.RLock()
	defer s.roleMu.RUnlock()
	t := s.term
	if t == nil {
		return nil, false, 0, s.notLeader()
	}
	ls := s.records
	ls.mu.Lock()
	if ws, ok := ls.inflight[rec.ID]; ok {
		w := make(chan ack, 1)
		ls.inflight[rec.ID] = append(ws, w)
		ls.mu.Unlock()
		s.m.duplicates.Inc()
		return w, true, 0, nil
	}
	if idx, stored, sure := known.stored(rec.ID, &ls.recent); sure {
		if stored {
			ls.mu.Unlock()
			s.m.duplicates.Inc()
			return nil, true, idx, nil
		}
	} else {
		stored, err := s.cfg.Store.Record(rec.ID)
		if err == nil {
			ls.mu.Unlock()
			s.m.duplicates.Inc()
			return nil, true, stored.Index, nil
		}
		if !errors.Is(err, ErrNotFound) {
			ls.mu.Unlock()
			return nil, false, 0, fmt.Errorf("%w: %v", ErrStore, err)
		}
	}
	w := make(chan ack, 1)
	ls.inflight[rec.ID] = []chan ack{w}
	ls.mu.Unlock()
	select {
	case ls.queue <- &pending{rec: *rec}:
		return w, false, 0, nil
	case <-t.ctx.Done():
	}
	// The term ended: release the uploads of the same record that joined this one.
	err = t.why()
	ls.mu.Lock()
	for _, o := range ls.inflight[rec.ID][1:] {
		o <- ack{err: err}
	}
	delete(ls.inflight, rec.ID)
	ls.mu.Unlock()
	return nil, false, 0, err
}

// commitLoop commits queued rows durably in batches (group commit), until
// its term ends.
func (s *Service) commitLoop(ctx context.Context, ls *logState, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		var batch []*pending
		rows := 0
		select {
		case <-ctx.Done():
			return
		case p := <-ls.queue:
			batch, rows = append(batch, p), p.size()
		}
	fill:
		for rows < s.cfg.MaxBatch {
			select {
			case p := <-ls.queue:
				batch, rows = append(batch, p), rows+p.size()
			default:
				break fill
			}
		}
		s.commit(ls, batch)
	}
}

func (s *Service) commit(ls *logState, batch []*pending) {
	log := ls.log.Load()
	first := log.Size()
	leaves := make([][merklelog.HashSize]byte, 0, len(batch))
	starts := make([]uint64, len(batch)) // each pending's first index
	ls.store.recs, ls.store.entries = nil, nil
	for i, p := range batch {
		starts[i] = first + uint64(len(leaves))
		if ls.id == LogRecords {
			p.rec.Index = starts[i]
			ls.store.recs = append(ls.store.recs, p.rec)
			leaves = append(leaves, merklelog.HashLeaf(p.rec.ID[:]))
			continue
		}
		p.entry.Index = starts[i]
		for j := range p.more {
			p.more[j].Index = starts[i] + 1 + uint64(j)
		}
		for _, e := range append([]cloudapi.AccessEntry{p.entry}, p.more...) {
			ls.store.entries = append(ls.store.entries, e)
			leaf, _ := e.Leaf()
			leaves = append(leaves, leaf)
		}
	}
	if ls.id == LogRecords {
		// An erasure sees every record committed before it, and none
		// commits while it runs.
		s.eraseMu.Lock()
	}
	_, err := log.AppendLeafHashes(leaves...)
	if ls.id == LogRecords {
		s.eraseMu.Unlock()
	}
	ls.store.recs, ls.store.entries = nil, nil
	if errors.Is(err, ErrNotLeader) {
		// Deposed: another process sequences now, and this batch is not
		// stored. The election ends the term.
		s.log.Warn("commit refused: the lease has moved on", "log", logName(ls.id), "records", len(batch), "err", err)
		select {
		case s.fenced <- struct{}{}:
		default:
		}
		s.recoverCommit(ls, first, leaves)
	} else if err != nil {
		s.log.Error("durable commit failed", "log", logName(ls.id), "records", len(batch), "err", err)
		if s.recoverCommit(ls, first, leaves) {
			s.log.Warn("the failed commit is durable after all", "log", logName(ls.id), "records", len(batch))
			err = nil
		}
	}
	if err == nil {
		s.m.commitBatches.Observe(float64(len(batch)))
		s.m.logSize.WithLabelValues(logName(ls.id)).Set(float64(ls.log.Load().Size()))
		if ls.id == LogRecords {
			s.m.accepted.Add(float64(len(batch)))
			recs := make([]StoredRecord, len(batch))
			for i, p := range batch {
				recs[i] = p.rec
				recs[i].Index = first + uint64(i)
			}
			s.alertHub.publish(recs, s.cfg.Now().UnixMilli())
		}
	}
	ls.mu.Lock()
	if ls.id == LogRecords {
		var ids [][32]byte
		if err == nil {
			ids = make([][32]byte, len(batch))
			for i, p := range batch {
				ids[i] = p.rec.ID
			}
		}
		ls.recent.add(ids, first)
	}
	for i, p := range batch {
		a := ack{index: starts[i], err: err}
		if ls.id == LogRecords {
			for _, w := range ls.inflight[p.rec.ID] {
				w <- a
			}
			delete(ls.inflight, p.rec.ID)
		} else {
			p.done <- a
		}
	}
	ls.mu.Unlock()
}

// recoverCommit handles a failed commit of leaves at first: if the store holds
// more than the log (the commit, or an earlier one, was written but its
// answer lost), it reopens the log from the store, so that the committer
// goes on, and reports whether the store holds exactly this batch, which
// is then durable.
func (s *Service) recoverCommit(ls *logState, first uint64, leaves [][merklelog.HashSize]byte) bool {
	size, err := ls.store.Size()
	if err != nil || size == first {
		return false
	}
	l, err := merklelog.Open(ls.store)
	if err != nil {
		s.log.Error("reopen log after a failed commit", "log", logName(ls.id), "err", err)
		return false
	}
	ls.log.Store(l)
	s.log.Warn("store is ahead of the log after a failed commit; reopened", "log", logName(ls.id), "size", size, "expected", first)
	if size != first+uint64(len(leaves)) {
		return false
	}
	for i := range leaves {
		if h, err := l.LeafHash(first + uint64(i)); err != nil || h != leaves[i] {
			return false
		}
	}
	return true
}

// sealLoop seals blocks and anchors their checkpoints: a block is the range
// appended since the last anchored checkpoint. Anchoring resumes by itself
// after a restart or an outage of the chain.
func (s *Service) sealLoop(ctx context.Context, ls *logState, wg *sync.WaitGroup) {
	defer wg.Done()
	interval := s.cfg.BlockInterval
	if ls.id == LogAccess {
		interval = s.cfg.AccessBlockInterval
	}
	// The loop looks at the log every poll, and wakes at the seal's
	// deadline itself when that comes sooner: a seal that waited for the
	// next poll added up to a poll to every record's anchoring latency.
	poll := min(interval/4, 100*time.Millisecond) + time.Millisecond
	wake := time.NewTimer(poll)
	defer wake.Stop()
	next := func(d time.Duration) { wake.Reset(max(min(d, poll), time.Millisecond)) }
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake.C:
		}
		ls.mu.Lock()
		anchored, sealed := ls.anchored, ls.sealed
		ls.mu.Unlock()
		size := ls.log.Load().Size()
		lag := size - anchored.Size
		s.m.anchorLag.WithLabelValues(logName(ls.id)).Set(float64(lag))
		since := s.cfg.Now().Sub(sealed)
		switch {
		case lag == 0:
			next(poll)
			continue
		case backoff > 0 && since < interval+backoff:
			next(interval + backoff - since)
			continue // the ledger failed: wait, however many entries wait
		case lag < s.cfg.BlockRecords && since < interval:
			next(interval - since)
			continue
		}
		next(poll)
		if err := s.seal(ctx, ls, anchored); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.anchorErrors.WithLabelValues(logName(ls.id)).Inc()
			s.log.Warn("anchor failed; will retry", "log", logName(ls.id), "err", err)
			backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
			ls.mu.Lock()
			ls.sealed = s.cfg.Now()
			ls.mu.Unlock()
			continue
		}
		backoff = 0
	}
}

func (s *Service) seal(ctx context.Context, ls *logState, anchored merklelog.Checkpoint) error {
	log := ls.log.Load()
	cp := log.Checkpoint()
	proof, err := log.ConsistencyProof(anchored.Size, cp.Size)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	ls.mu.Lock()
	ls.sealed = now
	ls.mu.Unlock()
	s.m.blocks.WithLabelValues(logName(ls.id)).Inc()
	actx, span := startAnchor(ctx, ls.id, anchored.Size, cp.Size)
	err = s.cfg.Ledger.Anchor(actx, &ledger.Anchor{Log: ls.id, Checkpoint: cp, Proof: proof, Sealed: now.UnixMilli()})
	endAnchor(span, err)
	if errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) || errors.Is(err, ledger.Rejected(ledger.CodeConsistency)) {
		// Another attempt got there first, or we are behind the ledger:
		// take the ledger's word for what is anchored.
		a, qerr := s.cfg.Ledger.Anchored(ctx, ls.id)
		if qerr != nil {
			return errors.Join(err, qerr)
		}
		// Only a checkpoint of this log: anything else would make reads
		// serve proofs that do not verify.
		if mine, cerr := log.CheckpointAt(a.Checkpoint.Size); cerr != nil || mine != a.Checkpoint {
			return errors.Join(err, fmt.Errorf("%w: the ledger anchors size %d of %s log with another root (%v)",
				ErrAnchorMismatch, a.Checkpoint.Size, logName(ls.id), cerr))
		}
		ls.mu.Lock()
		ls.anchored = a.Checkpoint
		ls.mu.Unlock()
		if errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	ls.mu.Lock()
	ls.anchored = cp
	ls.mu.Unlock()
	s.m.anchors.WithLabelValues(logName(ls.id)).Inc()
	s.m.anchorLag.WithLabelValues(logName(ls.id)).Set(float64(log.Size() - cp.Size))
	return nil
}

// Checkpoints returns, for each log, its current and its anchored checkpoint.
func (s *Service) Checkpoints() (records, recordsAnchored, access, accessAnchored merklelog.Checkpoint) {
	s.records.mu.Lock()
	recordsAnchored = s.records.anchored
	s.records.mu.Unlock()
	s.access.mu.Lock()
	accessAnchored = s.access.anchored
	s.access.mu.Unlock()
	return s.records.log.Load().Checkpoint(), recordsAnchored, s.access.log.Load().Checkpoint(), accessAnchored
}

// Consistency returns a proof that the log of id at size from is a prefix
// of it at size to, with both checkpoints: what an auditor checks between
// two anchors. It fails with merklelog.ErrSizeOutOfRange beyond the log.
func (s *Service) Consistency(id uint8, from, to uint64) (old, cur merklelog.Checkpoint, p merklelog.Proof, err error) {
	ls := s.records
	if id == LogAccess {
		ls = s.access
	}
	l := ls.log.Load()
	if old, err = l.CheckpointAt(from); err != nil {
		return
	}
	if cur, err = l.CheckpointAt(to); err != nil {
		return
	}
	p, err = l.ConsistencyProof(from, to)
	return
}

// forgetNonces forgets, every minute, the nonces of requests that have
// expired.
func (s *Service) forgetNonces(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.cfg.Store.ForgetNonces(s.cfg.Now().UnixMilli()); err != nil {
				s.log.Warn("forgetting expired request nonces", "err", err)
			}
		}
	}
}
