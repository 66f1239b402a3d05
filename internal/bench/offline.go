package bench

import (
	"fmt"
	"sync"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
)

// offlineSigner numbers and signs transactions for a chain that keeps no
// sequence numbers to start from (package nullapp's).
type offlineSigner struct {
	chainID string
	key     *identity.SigningKey

	mu   sync.Mutex
	next uint64
}

func (s *offlineSigner) Sign(body ledger.Body) ([]byte, error) {
	s.mu.Lock()
	s.next++
	seq := s.next
	s.mu.Unlock()
	return ledger.NewTx(s.chainID, s.key, seq, body)
}

// offlineWorld makes the actors newWorld registers, with the same keys,
// session keys and grant envelopes, for a chain that registers nobody:
// their transactions are the ledger run's, byte for byte in size.
func offlineWorld(chainID string, nPatients, nProviders, nClouds int, suite identity.Suite) (*world, error) {
	w := &world{patients: make([]*patient, nPatients), providers: make([]*identity.Identity, nProviders), clouds: make([]*anchorer, nClouds)}
	for i := range w.clouds {
		id, err := identity.Generate(identity.RoleCloud, suite)
		if err != nil {
			return nil, fmt.Errorf("a cloud's keys: %w", err)
		}
		l, err := merklelog.Open(merklelog.NewMemStore())
		if err != nil {
			return nil, err
		}
		w.clouds[i] = &anchorer{signer: &offlineSigner{chainID: chainID, key: id.Signing}, log: l}
	}
	for i := range w.providers {
		var err error
		if w.providers[i], err = identity.Generate(identity.RoleProvider, suite); err != nil {
			return nil, fmt.Errorf("a provider's keys: %w", err)
		}
	}
	for i := range w.patients {
		id, err := identity.Generate(identity.RolePatient, suite)
		if err != nil {
			return nil, fmt.Errorf("a patient's keys: %w", err)
		}
		key, err := envelope.NewSessionKey()
		if err != nil {
			return nil, err
		}
		p := &patient{signer: &offlineSigner{chainID: chainID, key: id.Signing}}
		for _, prov := range w.providers {
			e, err := envelope.GrantEnvelope(id, prov.Public(), 1, key)
			if err != nil {
				return nil, err
			}
			b, err := e.Marshal()
			if err != nil {
				return nil, err
			}
			p.envelopes = append(p.envelopes, b)
		}
		w.patients[i] = p
	}
	return w, nil
}
