package provider

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// Alert is an alert whose record the patient's key verified and that this
// provider's key of its vital sign opened. The vital sign and the severity
// come from the decrypted payload: the header, all the cloud sees, names
// neither.
type Alert struct {
	ID       [32]byte          // the record's ID, SHA-256 of its header: what Fetch takes
	Index    uint64            // the record's position in the cloud's records log
	Header   record.Header     // verified: the patient signed it
	Kind     vital.Kind        // the vital sign (decrypted)
	Severity contract.Severity // the severity of the contract's rule that fired (decrypted)
	Stored   time.Time         // when the cloud made the record durable (the cloud's clock)
	Received time.Time         // when this provider received the alert (Config.Now)
}

// Latency returns how long the alert took from the reading (the header's
// time, the device's clock) to this provider.
func (a Alert) Latency() time.Duration {
	return a.Received.Sub(time.UnixMilli(a.Header.Time))
}

// Retry backoff of Follow while the cloud or the ledger is unreachable.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
	// minPoll is the shortest time between two polls that moved nothing,
	// so that a cloud answering at once does not make Follow spin.
	minPoll = 250 * time.Millisecond
)

// Poll asks the cloud once for the alerts due to this provider from record
// index from on, waiting up to wait for a first one: under its registered
// key and, at once, under each relation key its patients registered (see
// Bind). It returns the verified alerts in log order and the index to poll
// from next. An alert that fails verification is counted
// (Stats.AlertsForged), logged and left out; an alert of a vital sign
// outside this provider's scope (the cloud cannot tell, and alerts every
// provider of the contract) is counted (Stats.AlertsOutOfScope) and left
// out without a word; a gap the cloud reports is counted (Stats.Gaps) and
// logged. If the cloud or the ledger cannot be reached, or the ledger has
// not yet shown this provider the keys of an alert's epoch, it returns an
// error and no alert, and next is from: polling again from there loses
// nothing.
func (p *Provider) Poll(ctx context.Context, from uint64, wait time.Duration) (alerts []Alert, next uint64, err error) {
	keys, err := p.pollKeys(ctx)
	if err != nil {
		return nil, from, err
	}
	type answer struct {
		alerts []Alert
		next   uint64
		err    error
	}
	answers := make([]answer, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			a := &answers[i]
			a.alerts, a.next, a.err = p.pollAs(ctx, k, from, wait)
		})
	}
	wg.Wait()
	next = math.MaxUint64
	for _, a := range answers {
		if a.err != nil {
			return nil, from, a.err
		}
		next = min(next, a.next)
	}
	// Alerts beyond the least next come again from there.
	for _, a := range answers {
		for _, al := range a.alerts {
			if al.Index < next {
				alerts = append(alerts, al)
			}
		}
	}
	slices.SortFunc(alerts, func(a, b Alert) int { return cmp.Compare(a.Index, b.Index) })
	return alerts, next, nil
}

// pollKeys returns the keys this provider polls alerts under: its
// registered key, then the relation keys that its patients registered.
func (p *Provider) pollKeys(ctx context.Context) ([]*identity.Identity, error) {
	keys := []*identity.Identity{p.cfg.Key}
	for _, pat := range p.Patients() {
		k, err := p.keyFor(ctx, pat)
		if err != nil {
			return nil, err
		}
		if k != p.cfg.Key {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// pollAs is Poll under one key.
func (p *Provider) pollAs(ctx context.Context, key *identity.Identity, from uint64, wait time.Duration) (alerts []Alert, next uint64, err error) {
	b, err := p.cfg.Cloud.Alerts(ctx, key.Signing, from, wait)
	if err != nil {
		p.count(func(s *Stats) { s.PollErrors++ })
		return nil, from, fmt.Errorf("provider: alerts from %d: %w", from, err)
	}
	received := p.cfg.Now()
	next = max(b.Next, from)
	var forged, misrouted, unopened uint64
	prev := int64(from) - 1
	for _, a := range b.Alerts {
		if int64(a.Index) <= prev {
			p.log.Warn("alert out of order, skipped", "index", a.Index, "after", prev)
			continue
		}
		al, err := p.verifyAlert(ctx, a, received)
		if errors.Is(err, ErrForged) {
			forged++
			p.log.Warn("alert refused", "index", a.Index, "err", err)
			continue
		}
		if errors.Is(err, ErrNotMine) {
			misrouted++
			p.log.Warn("alert refused", "index", a.Index, "err", err)
			continue
		}
		if errors.Is(err, ErrNoKey) {
			// Of a vital sign outside the grant's scope, or of an epoch
			// this provider holds no keys of: expected, as the cloud
			// cannot tell; counted, not shown.
			unopened++
			p.log.Debug("alert of a vital sign outside this provider's keys", "index", a.Index, "err", err)
			prev = int64(a.Index)
			continue
		}
		if err != nil {
			p.count(func(s *Stats) { s.PollErrors++ })
			return nil, from, fmt.Errorf("provider: alert %d: %w", a.Index, err)
		}
		prev = int64(a.Index)
		alerts = append(alerts, al)
	}
	if len(alerts) > 0 {
		// Fetch signs the read of each with the key of its patient.
		p.mu.Lock()
		if len(p.records)+len(alerts) > maxCache {
			clear(p.records)
		}
		for _, a := range alerts {
			p.records[a.ID] = a.Header.Patient
		}
		p.mu.Unlock()
	}
	if n := len(b.Alerts); n > 0 {
		next = max(next, b.Alerts[n-1].Index+1)
	}
	if b.Gap {
		p.log.Warn("the cloud dropped alerts this provider had not fetched: fetch the records of the gap some other way", "from", from, "next", next)
	}
	p.count(func(s *Stats) {
		s.AlertsVerified += uint64(len(alerts))
		s.AlertsForged += forged
		s.AlertsMisrouted += misrouted
		s.AlertsOutOfScope += unopened
		if b.Gap {
			s.Gaps++
		}
	})
	return alerts, next, nil
}

// verifyAlert checks an alert's record (its header, its signature by the
// patient whose record it is, its ciphertext's hash) and opens it with the
// key of this provider's scope that its key tag names. A failure is
// ErrForged; a record that none of its keys opens, ErrNoKey (with
// ErrOutOfScope if it holds keys of the epoch); an error of the ledger is
// returned as it is, and so is ErrKeysBehind.
func (p *Provider) verifyAlert(ctx context.Context, a cloudapi.Alert, received time.Time) (Alert, error) {
	r := &record.Record{HeaderBytes: a.Header, Ciphertext: a.Ciphertext, Signature: a.Sig}
	h, err := r.Header()
	if err != nil {
		return Alert{}, fmt.Errorf("%w: alert %d: %w", ErrForged, a.Index, err)
	}
	switch {
	case h.Author != h.Patient:
		return Alert{}, fmt.Errorf("%w: alert %d: a record by %s, not by its patient %s", ErrForged, a.Index, h.Author, h.Patient)
	case h.Epoch == 0 || h.Contract == [32]byte{} || !h.Alert:
		return Alert{}, fmt.Errorf("%w: alert %d: a patient's record without epoch or contract, or that raises no alert", ErrForged, a.Index)
	}
	key, _, err := p.patientKey(ctx, h.Patient)
	if errors.Is(err, errUnregistered) || errors.Is(err, identity.ErrWrongRole) {
		return Alert{}, fmt.Errorf("%w: alert %d: %w", ErrForged, a.Index, err)
	}
	if err != nil {
		return Alert{}, err
	}
	if _, err := r.Verify(key); err != nil {
		return Alert{}, fmt.Errorf("%w: alert %d of patient %s: %w", ErrForged, a.Index, h.Patient, err)
	}
	mine, err := p.contractNamesMe(ctx, h.Contract, h.Patient)
	if err != nil {
		return Alert{}, err
	}
	if !mine {
		return Alert{}, fmt.Errorf("%w: alert %d: contract %x does not name this provider", ErrNotMine, a.Index, h.Contract[:8])
	}
	me, err := p.keyFor(ctx, h.Patient)
	if err != nil {
		return Alert{}, err
	}
	pl, err := p.open(ctx, me, key, r, h)
	if errors.Is(err, ErrNoKey) && !errors.Is(err, ErrOutOfScope) {
		// No keys of this epoch: either this provider was never given
		// them, or its ledger node has not yet seen the block that did
		// (a fresh alert of a new epoch may outrun it): that, it waits for
		// a while, then gives up.
		if behind, berr := p.keysBehind(ctx, h.Patient, h.Epoch); berr != nil {
			return Alert{}, berr
		} else if behind && received.Sub(time.UnixMilli(a.Stored)) < keysGrace {
			return Alert{}, fmt.Errorf("alert %d: %w: epoch %d of patient %s", a.Index, ErrKeysBehind, h.Epoch, h.Patient)
		}
	}
	if err != nil {
		return Alert{}, fmt.Errorf("alert %d: %w", a.Index, err)
	}
	return Alert{ID: sha256.Sum256(a.Header), Index: a.Index, Header: h, Kind: pl.Kind, Severity: contract.Severity(pl.Severity),
		Stored: time.UnixMilli(a.Stored), Received: received}, nil
}

// ErrKeysBehind: an alert of an epoch newer than the one this provider's
// grant carries on its ledger node: the node has not yet seen the block
// that gave it the epoch's keys. Poll returns it, and polling again later
// opens the alert.
var ErrKeysBehind = errors.New("the ledger has not yet given this provider the keys of the alert's epoch")

// keysGrace is how long after the cloud stored an alert's record this
// provider waits for its ledger node to show it the keys of the record's
// epoch, before it counts the alert as one it cannot open.
const keysGrace = 10 * time.Second

// keysBehind reports whether this provider's grant from patient, as its
// ledger node shows it, is in force with an epoch older than epoch, or is
// not there yet: the keys may be on their way.
func (p *Provider) keysBehind(ctx context.Context, patient identity.ID, epoch uint64) (bool, error) {
	me, err := p.keyFor(ctx, patient)
	if err != nil {
		return false, err
	}
	g, err := p.cfg.Chain.Grant(ctx, patient, me.ID())
	if errors.Is(err, client.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: grant: %w", err)
	}
	return g.Active(p.cfg.Now().UnixMilli()) && g.Epoch < epoch, nil
}

// permanent reports whether the cloud refused the provider itself (not
// registered, not a provider, a bad signature or request): retrying cannot
// help.
func permanent(err error) bool {
	var re *cloudapi.RequestError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case cloudapi.CodeUnknownSigner, cloudapi.CodeWrongRole, cloudapi.CodeBadSignature, cloudapi.CodeBadRequest:
		return true
	}
	return false
}

// Follow polls the cloud for the alerts due to this provider from record
// index from on, and calls handle with each verified alert, one at a time:
// under its registered key and under each relation key its patients
// registered (Bind), each in its own long poll, each in log order (a
// patient's alerts come under one key, so in order). Relation keys that
// patients register later are followed as they appear, from from. An alert
// that fails verification is counted and skipped, never handled. While the
// cloud or the ledger is unreachable it retries with exponential backoff
// (100 ms to 10 s), losing nothing. It returns ctx's error when ctx ends,
// or the cloud's refusal if the cloud refuses this provider's registered
// key for good (unknown_signer, wrong_role, bad_signature, bad_request).
// Stats.Cursor is the least cursor of the keys followed.
func (p *Provider) Follow(ctx context.Context, from uint64, handle func(Alert)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		handleMu sync.Mutex
		wg       sync.WaitGroup
		curMu    sync.Mutex
	)
	defer wg.Wait()
	cursors := map[identity.ID]uint64{}
	setCursor := func(k identity.ID, c uint64) {
		curMu.Lock()
		cursors[k] = c
		least := uint64(math.MaxUint64)
		for _, v := range cursors {
			least = min(least, v)
		}
		curMu.Unlock()
		p.count(func(s *Stats) { s.Cursor = least })
	}
	errc := make(chan error, 1)
	started := map[identity.ID]bool{}
	start := func(key *identity.Identity) {
		started[key.ID()] = true
		setCursor(key.ID(), from)
		wg.Go(func() {
			err := p.followAs(ctx, key, key == p.cfg.Key, from, func(a Alert) {
				handleMu.Lock()
				defer handleMu.Unlock()
				handle(a)
			}, func(c uint64) { setCursor(key.ID(), c) })
			if err != nil && ctx.Err() == nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	start(p.cfg.Key)
	for {
		p.mu.Lock()
		changed := p.patientsChanged
		p.mu.Unlock()
		pending := false
		for _, pat := range p.Patients() {
			k, err := p.keyFor(ctx, pat)
			if err != nil || k == p.cfg.Key {
				pending = true // not registered yet, or the ledger is away: look again
				continue
			}
			if !started[k.ID()] {
				start(k)
			}
		}
		var again <-chan time.Time
		if pending {
			again = time.After(negativeTTL)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-changed:
		case <-again:
		}
	}
}

// followAs is Follow under one key; main is the registered key, whose
// permanent refusal ends Follow (a relation key's is retried: its patient
// may register it again after a fault).
func (p *Provider) followAs(ctx context.Context, key *identity.Identity, main bool, from uint64, handle func(Alert), cursor func(uint64)) error {
	backoff := minBackoff
	for ctx.Err() == nil {
		start := time.Now()
		alerts, next, err := p.pollAs(ctx, key, from, p.cfg.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if permanent(err) && main {
				return err
			}
			p.log.Warn("alerts unavailable, retrying", "from", from, "in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		for _, a := range alerts {
			handle(a)
		}
		// Only a poll that moved nothing on waits before the next: one
		// whose alerts were all left out (out of scope, forged) moved the
		// cursor, and an alert for us may be right behind them.
		moved := next != from
		from = next
		cursor(next)
		if len(alerts) == 0 && !moved {
			if !sleep(ctx, minPoll-time.Since(start)) {
				break
			}
		}
	}
	return ctx.Err()
}

// sleep waits for d or ctx's end, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// FollowAnchors calls handle with the size of each checkpoint of a cloud's
// records log that the ledger anchors, and its block time: every record of
// index below size is then covered by an anchor. It starts with the latest
// anchor, if any, then follows the chain's "anchor" events; sizes only
// grow. It returns ctx's error when ctx ends.
func (p *Provider) FollowAnchors(ctx context.Context, cloudID identity.ID, handle func(size uint64, at time.Time)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe first, then read the latest: nothing falls between.
	ch, err := p.cfg.Chain.Subscribe(ctx, client.Type(ledger.EventAnchor, ledger.AttrCloud, cloudID.Hex(), ledger.AttrLog, strconv.Itoa(int(ledger.LogRecords))))
	if err != nil {
		return fmt.Errorf("provider: follow anchors of %s: %w", cloudID, err)
	}
	var last uint64
	a, err := p.cfg.Chain.Anchor(ctx, cloudID, ledger.LogRecords)
	switch {
	case errors.Is(err, client.ErrNotFound):
	case err != nil:
		return fmt.Errorf("provider: anchor of %s: %w", cloudID, err)
	default:
		last = a.Checkpoint.Size
		handle(last, time.UnixMilli(a.Time))
	}
	for ev := range ch {
		size, err := strconv.ParseUint(ev.Attr(ledger.AttrSize), 10, 64)
		if err != nil {
			p.log.Warn("anchor event without a size", "height", ev.Height)
			continue
		}
		if size > last {
			last = size
			handle(size, ev.Time)
		}
	}
	return ctx.Err()
}

// ErrNotMine is an alert, genuinely the patient's, of a contract that does
// not name this provider: the cloud sent it to the wrong provider.
var ErrNotMine = errors.New("alert of a contract that does not name this provider")

// contractNamesMe reports whether a patient's contract names this provider.
// Contracts are identified by the hash of their terms, so an answer holds
// for good.
func (p *Provider) contractNamesMe(ctx context.Context, id [32]byte, patient identity.ID) (bool, error) {
	p.mu.Lock()
	mine, ok := p.contracts[id]
	p.mu.Unlock()
	if ok {
		return mine, nil
	}
	c, err := p.cfg.Chain.Contract(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: contract %x: %w", id[:8], err)
	}
	rel, err := p.RelationID(patient)
	if err != nil {
		return false, err
	}
	mine = c.Patient == patient && (slices.Contains(c.Providers, rel) || slices.Contains(c.Providers, p.me))
	p.mu.Lock()
	if len(p.contracts) >= maxCache {
		clear(p.contracts)
	}
	p.contracts[id] = mine
	p.mu.Unlock()
	return mine, nil
}

// ContractTerms reads a contract this provider is party to from the ledger,
// where its terms are sealed, opens them with the provider's key and checks
// them against the contract's commitment (its ID) and the parties the
// ledger lists (contract.ErrCommitment).
func (p *Provider) ContractTerms(ctx context.Context, id [32]byte) (contract.Terms, error) {
	c, err := p.cfg.Chain.Contract(ctx, id)
	if err != nil {
		return contract.Terms{}, fmt.Errorf("ledger: contract %x: %w", id[:8], err)
	}
	pkey, _, err := p.patientKey(ctx, c.Patient)
	if err != nil {
		return contract.Terms{}, err
	}
	// Sealed to the key the contract names: the relation key, or the
	// registered key of an older contract.
	key := p.cfg.Key
	if !slices.Contains(c.Providers, p.me) {
		e, err := p.relationOf(c.Patient)
		if err != nil {
			return contract.Terms{}, err
		}
		key = e.key
	}
	t, err := c.Sealed.Open(key, pkey)
	if err != nil {
		return contract.Terms{}, err
	}
	if c.Sealed.Commitment != id || !slices.Equal(t.Providers, c.Providers) {
		return contract.Terms{}, fmt.Errorf("contract %x: %w: the terms' ID or providers are not the ledger's", id[:8], contract.ErrCommitment)
	}
	return t, nil
}
