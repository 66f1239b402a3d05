package ledger

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// Genesis is the ledger's initial state: the chain's parameters and its
// first authorities, each the head of its own cluster. It travels as the
// app_state of CometBFT's genesis file, in JSON.
type Genesis struct {
	Params      Params             `json:"params"`
	Authorities []GenesisAuthority `json:"authorities"`
}

// GenesisAuthority is one of the first Cluster Heads.
type GenesisAuthority struct {
	Name      string `json:"name"`
	Key       string `json:"key"`       // its identity's verifying key, "vc-authority-ed25519-pub:…"
	Consensus []byte `json:"consensus"` // its Ed25519 consensus public key
	Cluster   uint32 `json:"cluster"`   // the cluster it heads
}

// ParseGenesis decodes and checks a genesis app state.
func ParseGenesis(b []byte) (*Genesis, error) {
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("genesis app state: %w", err)
	}
	if g.Params == (Params{}) {
		g.Params = DefaultParams()
	}
	if err := g.Params.validate(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if len(g.Authorities) == 0 {
		return nil, fmt.Errorf("genesis: no authorities")
	}
	clusters := map[uint32]bool{}
	keys := map[identity.ID]bool{}
	consensus := map[string]bool{}
	for _, a := range g.Authorities {
		k, err := identity.ParseVerifyingKey(a.Key)
		if err != nil {
			return nil, fmt.Errorf("genesis authority %q: %w", a.Name, err)
		}
		if err := k.Role().Want(identity.RoleAuthority); err != nil {
			return nil, fmt.Errorf("genesis authority %q: %w", a.Name, err)
		}
		if len(a.Consensus) != 32 {
			return nil, fmt.Errorf("genesis authority %q: consensus key of %d bytes", a.Name, len(a.Consensus))
		}
		if clusters[a.Cluster] {
			return nil, fmt.Errorf("genesis: two heads for cluster %d", a.Cluster)
		}
		if keys[k.ID()] {
			return nil, fmt.Errorf("genesis authority %q: its key heads another cluster too", a.Name)
		}
		if consensus[string(a.Consensus)] {
			return nil, fmt.Errorf("genesis authority %q: its consensus key is another authority's too", a.Name)
		}
		clusters[a.Cluster], keys[k.ID()], consensus[string(a.Consensus)] = true, true, true
	}
	return &g, nil
}

// InitChain writes the genesis state into an empty store and returns the
// initial validator set as updates, and the initial app hash: the root of
// tree (empty before) once the genesis writes are applied to it. chainID is
// the chain's ID (CometBFT's genesis chain_id): every transaction signs it.
func (m *Machine) InitChain(st Store, tree Tree, chainID string, g *Genesis, t time.Time) (*Result, error) {
	if err := checkChainID(chainID); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	x, err := newExec(st, 0, t)
	if err != nil {
		return nil, err
	}
	x.tx = map[string][]byte{}
	x.params = g.Params
	if err := x.put([]byte{pParams}, &g.Params); err != nil {
		return nil, err
	}
	x.putRaw([]byte{pChainID}, []byte(chainID))
	var auths []Authority
	for _, a := range g.Authorities {
		k, err := identity.ParseVerifyingKey(a.Key)
		if err != nil {
			return nil, err
		}
		id := k.ID()
		mem := Member{Role: identity.RoleAuthority, Verifying: k.Bytes(), Consensus: a.Consensus, Cluster: a.Cluster, Home: a.Cluster}
		if err := x.addMember(id, &mem); err != nil {
			return nil, err
		}
		if err := x.put(key(pCluster, be32(a.Cluster)), &Cluster{ID: a.Cluster, Head: id}); err != nil {
			return nil, err
		}
		auths = append(auths, Authority{ID: id, Consensus: a.Consensus, Power: g.Params.AuthorityPower})
	}
	slices.SortFunc(auths, func(a, b Authority) int { return cmpID(a.ID, b.ID) })
	if err := x.put([]byte{pAuthorities}, &authorityList{List: auths}); err != nil {
		return nil, err
	}
	x.block = x.tx
	res := &Result{Writes: x.sortedWrites()}
	for _, a := range auths {
		res.ValidatorUpdates = append(res.ValidatorUpdates, ValidatorUpdate{PubKey: a.Consensus, Power: a.Power})
	}
	if res.AppHash, err = commitTo(tree, res.Writes); err != nil {
		return nil, err
	}
	return res, nil
}
