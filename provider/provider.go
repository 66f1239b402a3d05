package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

// Config configures a Provider.
type Config struct {
	Key   *identity.Identity // the provider's keys (role provider), registered on the ledger
	Chain *client.Client     // a ledger node
	Cloud *cloudapi.Client   // the cloud that stores the patients' records
	Log   *slog.Logger
	Now   func() time.Time // the clock; time.Now by default
	// PollWait is how long one alerts request waits for a first alert
	// (default 20 s, at most cloudapi.MaxAlertWait).
	PollWait time.Duration
	// Patients are patients this provider bound a relation key for before
	// (Bind): Follow polls their alerts under those keys.
	Patients []identity.ID
}

// MemberTTL is how long a Provider trusts a cached member of the ledger.
const MemberTTL = 10 * time.Minute

// maxCache bounds each cache; a full cache is emptied.
const maxCache = 1 << 16

// Provider is one provider's client of the ledger and the cloud. It is safe
// for concurrent use.
type Provider struct {
	cfg Config
	me  identity.ID
	log *slog.Logger

	mu        sync.Mutex
	members   map[identity.ID]cachedMember
	keys      map[epochKey]map[vital.Kind]envelope.SessionKey // the keys of this provider's scope
	contracts map[[32]byte]bool                               // whether a contract names this provider
	signers   map[identity.ID]*client.Signer                  // by signing key: the registered key's and relation keys'
	lastSeq   uint64                                          // the Seq of the last record sent
	rels      map[identity.ID]*relEntry                       // by patient
	patients  []identity.ID                                   // whose relation keys Follow polls with
	// patientsChanged is closed (and replaced) when patients grows.
	patientsChanged chan struct{}
	records         map[[32]byte]identity.ID // record → patient, from verified alerts (Fetch)

	statsMu sync.Mutex
	stats   Stats
}

type cachedMember struct {
	m  *ledger.Member
	at time.Time
}

type epochKey struct {
	patient identity.ID
	epoch   uint64
	me      identity.ID // the key granted: a relation key or the registered key
}

// New returns a Provider. It does not contact the ledger or the cloud.
func New(cfg Config) (*Provider, error) {
	if cfg.Key == nil || cfg.Key.Signing == nil || cfg.Key.Decryption == nil {
		return nil, fmt.Errorf("provider: %w: no provider identity", identity.ErrBadKey)
	}
	if err := cfg.Key.Role().Want(identity.RoleProvider); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	if cfg.Chain == nil || cfg.Cloud == nil {
		return nil, errors.New("provider: a ledger client and a cloud client are needed")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = 20 * time.Second
	}
	cfg.PollWait = min(cfg.PollWait, cloudapi.MaxAlertWait)
	p := &Provider{
		cfg: cfg, me: cfg.Key.ID(), log: cfg.Log,
		members: map[identity.ID]cachedMember{}, keys: map[epochKey]map[vital.Kind]envelope.SessionKey{}, contracts: map[[32]byte]bool{},
		signers: map[identity.ID]*client.Signer{}, rels: map[identity.ID]*relEntry{}, patientsChanged: make(chan struct{}),
		records: map[[32]byte]identity.ID{},
		stats:   Stats{FetchRefused: map[string]uint64{}},
	}
	p.addPatients(cfg.Patients...)
	return p, nil
}

// ID returns the provider's actor ID.
func (p *Provider) ID() identity.ID { return p.me }

// Stats counts what a Provider saw.
type Stats struct {
	AlertsVerified uint64 // alerts whose signature verified, handed to the caller
	AlertsForged   uint64 // alerts that failed verification, skipped
	// AlertsMisrouted: genuine alerts of contracts that do not name this
	// provider, skipped.
	AlertsMisrouted uint64
	// AlertsOutOfScope: genuine alerts of a vital sign whose key this
	// provider does not hold (outside its grant's scope, or of an epoch it
	// was not given), skipped quietly: the cloud does not know a record's
	// vital sign, and alerts every provider of the contract.
	AlertsOutOfScope uint64
	Gaps             uint64 // answers in which the cloud reported dropped alerts
	PollErrors       uint64 // alerts requests that failed (then retried)
	// Cursor is the record index Follow polls from next: every alert of a
	// record below it has been handled or skipped.
	Cursor uint64

	Fetches        uint64            // records fetched and verified
	FetchRefused   map[string]uint64 // reads the cloud refused, by its code ("revoked", "no_grant"…)
	FetchForged    uint64            // fetched records that failed a signature or content check
	FetchErrors    uint64            // fetches that failed otherwise (unreachable, no key…)
	ProofsVerified uint64
	ProofsFailed   uint64

	// StatesForged: alerts' states from the cloud whose signed changes
	// did not verify, left out.
	StatesForged uint64

	RecordsSent uint64 // transaction 3
	Commands    uint64 // device commands committed
}

// Stats returns a copy of the counters.
func (p *Provider) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	s := p.stats
	s.FetchRefused = maps.Clone(p.stats.FetchRefused)
	return s
}

func (p *Provider) count(f func(*Stats)) {
	p.statsMu.Lock()
	f(&p.stats)
	p.statsMu.Unlock()
}

// errUnregistered marks a member the ledger does not know.
var errUnregistered = errors.New("not registered on the ledger")

// member returns a registered actor, cached for MemberTTL. An actor the
// ledger does not know is an error wrapping errUnregistered (not cached:
// it may register later); other errors are the ledger's.
func (p *Provider) member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	c, ok := p.members[id]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < MemberTTL {
		return c.m, nil
	}
	m, err := p.cfg.Chain.Member(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", id, errUnregistered)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: member %s: %w", id, err)
	}
	p.mu.Lock()
	if len(p.members) >= maxCache {
		clear(p.members)
	}
	p.members[id] = cachedMember{m: m, at: now}
	p.mu.Unlock()
	return m, nil
}

// patientKey returns a registered patient's verifying key.
func (p *Provider) patientKey(ctx context.Context, id identity.ID) (identity.VerifyingKey, *ledger.Member, error) {
	m, err := p.member(ctx, id)
	if err != nil {
		return identity.VerifyingKey{}, nil, err
	}
	if m.Role != identity.RolePatient {
		return identity.VerifyingKey{}, nil, fmt.Errorf("%s is a %s, not a patient: %w", id, m.Role, identity.ErrWrongRole)
	}
	k, err := m.VerifyingKey()
	if err != nil {
		return identity.VerifyingKey{}, nil, fmt.Errorf("patient %s: %w", id, err)
	}
	return k, m, nil
}

// signerFor returns the transaction signer of key (the provider's
// registered key or one of its relation keys), made once.
func (p *Provider) signerFor(ctx context.Context, key *identity.Identity) (*client.Signer, error) {
	id := key.ID()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.signers[id]; ok {
		return s, nil
	}
	s, err := p.cfg.Chain.Signer(ctx, key.Signing)
	if err != nil {
		return nil, err
	}
	p.signers[id] = s
	return s, nil
}

// clouds returns the clouds whose anchors may cover a patient's records:
// the clouds of the patient's home cluster (where it was admitted;
// migrating does not move its records).
func (p *Provider) clouds(ctx context.Context, patient *ledger.Member) ([]identity.ID, error) {
	ci, err := p.cfg.Chain.Cluster(ctx, patient.Home)
	if err != nil {
		return nil, fmt.Errorf("ledger: cluster %d: %w", patient.Home, err)
	}
	// The cluster's list is a listing, unproved: each cloud's own
	// registration, proved, must say it is a cloud of that cluster.
	var out []identity.ID
	for _, id := range ci.Clouds {
		m, err := p.member(ctx, id)
		if err != nil {
			return nil, err
		}
		if m.Role == identity.RoleCloud && m.Home == patient.Home {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %d has no cloud on the ledger", patient.Home)
	}
	return out, nil
}

// CloudOf returns the cloud that stores a patient's records: the first
// cloud of the patient's home cluster on the ledger.
func (p *Provider) CloudOf(ctx context.Context, patient identity.ID) (identity.ID, error) {
	_, m, err := p.patientKey(ctx, patient)
	if err != nil {
		return identity.ID{}, err
	}
	cs, err := p.clouds(ctx, m)
	if err != nil {
		return identity.ID{}, err
	}
	return cs[0], nil
}

// Granted reports whether a patient's grant to this provider is in force
// now (the Provider's clock against the grant's expiry): what a provider's
// user interface checks before it shows anything of the patient.
func (p *Provider) Granted(ctx context.Context, patient identity.ID) (bool, error) {
	key, err := p.keyFor(ctx, patient)
	if err != nil {
		return false, fmt.Errorf("provider: grant of %s: %w", patient, err)
	}
	g, err := p.cfg.Chain.Grant(ctx, patient, key.ID())
	if errors.Is(err, client.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("provider: grant of %s: %w", patient, err)
	}
	return g.Active(p.cfg.Now().UnixMilli()), nil
}
