package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// Errors of Query.
var (
	ErrNotFound = errors.New("not found")
	ErrBadQuery = errors.New("bad query")
	// ErrNotProvable: a listing query (contracts/, grants/, record3/,
	// cluster/), whose answer is read from many keys: it comes without a
	// proof (StateKey), and a client that acts on one of its entries
	// checks that entry with a query of its own key.
	ErrNotProvable = errors.New("listing query: answered without a proof")
)

// Query paths, answered in CBOR by Query:
//
//	member/ID                      Member
//	seq/ID                         uint64: the highest sequence number the signer has used
//	authorities                    []Authority
//	pending                        []Change: validator changes not yet applied
//	cluster/N                      ClusterInfo (a listing: not provable)
//	head/N                         Cluster: the cluster alone, its head and term
//	params                         Params
//	contract/CONTRACT              ContractRecord
//	contracts/PATIENT              [][32]byte: the patient's contracts (a listing: not provable)
//	epoch/PATIENT                  PatientState
//	envelope/PATIENT/EPOCH/ID      []byte: the envelope of that epoch's key for ID
//	scope/PATIENT/EPOCH/ID         []byte: the sealed keys of the scope of ID's grant in that epoch
//	grant/PATIENT/PROVIDER         GrantRecord
//	grants/PATIENT                 []GrantEntry (a listing: not provable)
//	anchor/CLOUD/LOG               AnchorRecord: the latest
//	anchor/CLOUD/LOG/SIZE          AnchorRecord: the one of that size
//	alert/PATIENT/RECORD           AlertRecord
//	record3/PATIENT                []ProviderRecordListing (a listing: not provable)
//	command/DEVICE                 DeviceCommandRecord
//	absent/AUTHORITY               Absence: since when (block time), and from how many consecutive decided
//	                               commits (counted up to HeadAbsentCommits), its signature is missing;
//	                               not found while it signs, and for one that is not an authority
//	chain_id                       string: the chain's ID, which every transaction signs
//
// IDs, contracts and records are in hex.
//
// Every query but the listings reads one key of the state: StateKey names
// it, and Answer makes the answer from its value (or its absence). A node
// proves such an answer with a proof of that key's value, or of its
// absence, against the app hash (package statetree); the client checks the
// proof and makes the answer itself with Answer.

// ClusterInfo is a cluster with its members by role: the Cluster Head's
// lists of requesters (providers) and requestees (patients), and the rest.
type ClusterInfo struct {
	Cluster    Cluster       `cbor:"1,keyasint"`
	Requesters []identity.ID `cbor:"2,keyasint"`
	Requestees []identity.ID `cbor:"3,keyasint"`
	Devices    []identity.ID `cbor:"4,keyasint"`
	Clouds     []identity.ID `cbor:"5,keyasint"`
	Eligible   []identity.ID `cbor:"6,keyasint"` // authority-eligible members
}

// GrantEntry is one of a patient's grants.
type GrantEntry struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Grant    GrantRecord `cbor:"2,keyasint"`
}

// ProviderRecordListing is one record sent to a patient by a provider.
type ProviderRecordListing struct {
	Record [32]byte            `cbor:"1,keyasint"`
	Entry  ProviderRecordEntry `cbor:"2,keyasint"`
}

// parsedQuery is a query path parsed: its head, the state key it reads
// (the prefix it lists, for a listing), and the path for errors.
type parsedQuery struct {
	path    string
	head    string
	key     []byte
	listing bool
}

// parseQuery parses a query path.
func parseQuery(path string) (*parsedQuery, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	q := &parsedQuery{path: path, head: parts[0]}
	bad := func(format string, args ...any) (*parsedQuery, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadQuery, path, fmt.Sprintf(format, args...))
	}
	hexArg := func(i, n int) ([]byte, error) {
		if i >= len(parts) {
			return nil, fmt.Errorf("%w: %s: missing argument %d", ErrBadQuery, path, i)
		}
		b, err := hex.DecodeString(parts[i])
		if err != nil || len(b) != n {
			return nil, fmt.Errorf("%w: %s: argument %d is not %d bytes of hex", ErrBadQuery, path, i, n)
		}
		return b, nil
	}
	want := func(n int) error {
		if len(parts) != n {
			return fmt.Errorf("%w: %s: want %d path elements", ErrBadQuery, path, n)
		}
		return nil
	}
	switch q.head {
	case QueryMember, QuerySeq, QueryEpoch, QueryContracts, QueryGrants, QueryRecord3, QueryCommand, QueryAbsent, QueryContract:
		if err := want(2); err != nil {
			return nil, err
		}
		id, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		prefix := map[string]byte{QueryMember: pMember, QuerySeq: pSeq, QueryEpoch: pPatient, QueryContracts: pPatientK,
			QueryGrants: pGrant, QueryRecord3: pRecord3, QueryCommand: pDeviceCmd, QueryAbsent: pAbsent, QueryContract: pContract}[q.head]
		q.key = key(prefix, id)
		q.listing = q.head == QueryContracts || q.head == QueryGrants || q.head == QueryRecord3
	case QueryChainID, QueryAuthorities, QueryPending, QueryParams:
		if err := want(1); err != nil {
			return nil, err
		}
		q.key = []byte{map[string]byte{QueryChainID: pChainID, QueryAuthorities: pAuthorities, QueryPending: pPending, QueryParams: pParams}[q.head]}
	case QueryCluster, QueryHead:
		if err := want(2); err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			return bad("cluster number %q", parts[1])
		}
		q.key = key(pCluster, be32(uint32(n)))
		q.listing = q.head == QueryCluster
	case QueryEnvelope, QueryScope:
		if err := want(4); err != nil {
			return nil, err
		}
		p, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		epoch, perr := strconv.ParseUint(parts[2], 10, 64)
		if perr != nil {
			return bad("epoch %q", parts[2])
		}
		r, err := hexArg(3, 32)
		if err != nil {
			return nil, err
		}
		q.key = key(map[string]byte{QueryEnvelope: pEnvelope, QueryScope: pScope}[q.head], p, be64(epoch), r)
	case QueryGrant, QueryAlert:
		if err := want(3); err != nil {
			return nil, err
		}
		a, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		b, err := hexArg(2, 32)
		if err != nil {
			return nil, err
		}
		prefix := byte(pGrant)
		if q.head == QueryAlert {
			prefix = pAlert
		}
		q.key = key(prefix, a, b)
	case QueryAnchor:
		if len(parts) != 3 && len(parts) != 4 {
			return bad("want anchor/CLOUD/LOG[/SIZE]")
		}
		c, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		lg, perr := strconv.ParseUint(parts[2], 10, 8)
		if perr != nil {
			return bad("log %q", parts[2])
		}
		if len(parts) == 3 {
			q.key = key(pAnchor, c, []byte{byte(lg)})
			break
		}
		size, perr := strconv.ParseUint(parts[3], 10, 64)
		if perr != nil {
			return bad("size %q", parts[3])
		}
		q.key = key(pAnchorAt, c, []byte{byte(lg)}, be64(size))
	default:
		return bad("unknown query")
	}
	return q, nil
}

// StateKey returns the key of the state whose value alone answers path
// (see Answer), for a proof of that value. It is ErrNotProvable for a
// listing, ErrBadQuery for a path that is not a query.
func StateKey(path string) ([]byte, error) {
	q, err := parseQuery(path)
	if err != nil {
		return nil, err
	}
	if q.listing {
		return nil, fmt.Errorf("%w: %s", ErrNotProvable, path)
	}
	return q.key, nil
}

// Answer returns Query's answer to path from raw, the value of the state
// at StateKey(path) (nil: absent). It is ErrNotFound where the key is absent
// and the query has no default, ErrNotProvable for a listing.
func Answer(path string, raw []byte) ([]byte, error) {
	q, err := parseQuery(path)
	if err != nil {
		return nil, err
	}
	if q.listing {
		return nil, fmt.Errorf("%w: %s", ErrNotProvable, path)
	}
	return q.answer(raw)
}

// decodeValue decodes a value of the state into v: strictly, for Answer may
// run on a value a node sent with its proof (the ledger writes only
// canonical ones).
func decodeValue(raw []byte, v any) error {
	if err := codec.UnmarshalLimit(raw, MaxTxSize*16, v); err != nil {
		return fmt.Errorf("%w: corrupt value: %v", errStore, err)
	}
	return nil
}

func (q *parsedQuery) answer(raw []byte) ([]byte, error) {
	notFound := func() ([]byte, error) { return nil, fmt.Errorf("%w: %s", ErrNotFound, q.path) }
	switch q.head {
	case QuerySeq:
		var w seqWindow
		if raw != nil {
			if err := decodeValue(raw, &w); err != nil {
				return nil, err
			}
		}
		return codec.Marshal(w.Max)
	case QueryEpoch:
		var ps PatientState
		if raw != nil {
			if err := decodeValue(raw, &ps); err != nil {
				return nil, err
			}
		}
		return codec.Marshal(&ps)
	case QueryEnvelope, QueryScope:
		if raw == nil {
			return notFound()
		}
		return codec.Marshal(raw)
	case QueryChainID:
		if raw == nil {
			return notFound()
		}
		return codec.Marshal(string(raw))
	case QueryParams:
		p := DefaultParams()
		if raw != nil {
			p = Params{}
			if err := decodeValue(raw, &p); err != nil {
				return nil, err
			}
		}
		return codec.Marshal(&p)
	case QueryPending:
		var l changeList
		if raw != nil {
			if err := decodeValue(raw, &l); err != nil {
				return nil, err
			}
		}
		if l.List == nil {
			l.List = []Change{}
		}
		return codec.Marshal(l.List)
	case QueryAuthorities:
		var l authorityList
		if raw != nil {
			if err := decodeValue(raw, &l); err != nil {
				return nil, err
			}
		}
		if l.List == nil {
			l.List = []Authority{}
		}
		return codec.Marshal(l.List)
	}
	// The value as it is stored: member, head, contract, grant, alert,
	// anchor, command, absent.
	if raw == nil {
		return notFound()
	}
	return raw, nil
}

// Query answers a read-only query against the committed state.
func Query(st IterStore, path string) ([]byte, error) {
	q, err := parseQuery(path)
	if err != nil {
		return nil, err
	}
	if !q.listing {
		raw, err := st.Get(q.key)
		if err != nil {
			return nil, err
		}
		return q.answer(raw)
	}
	switch q.head {
	case QueryContracts:
		list := [][32]byte{}
		err = st.Iterate(q.key, func(k, _ []byte) bool {
			var c [32]byte
			copy(c[:], k[1+32:])
			list = append(list, c)
			return true
		})
		if err != nil {
			return nil, err
		}
		return codec.Marshal(list)
	case QueryGrants:
		return listing(st, q.key, func(k []byte, e *GrantEntry) any {
			copy(e.Provider[:], k[1+32:])
			return &e.Grant
		})
	case QueryRecord3:
		return listing(st, q.key, func(k []byte, e *ProviderRecordListing) any {
			copy(e.Record[:], k[1+32:])
			return &e.Entry
		})
	}
	// cluster/N
	var info ClusterInfo
	ok, err := getCBOR(st, q.key, &info.Cluster)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	err = st.Iterate(key(pClusterMem, q.key[1:]), func(k, _ []byte) bool {
		var id identity.ID
		copy(id[:], k[1+4+1:])
		switch identity.Role(k[1+4]) {
		case identity.RoleProvider:
			info.Requesters = append(info.Requesters, id)
		case identity.RolePatient:
			info.Requestees = append(info.Requestees, id)
		case identity.RoleDevice:
			info.Devices = append(info.Devices, id)
		case identity.RoleCloud:
			info.Clouds = append(info.Clouds, id)
		case identity.RoleAuthority:
			info.Eligible = append(info.Eligible, id)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return codec.Marshal(&info)
}

// listing encodes the list of entries stored under prefix: for each key,
// fill sets an entry's fields from the key and returns where its value
// decodes to.
func listing[T any](st IterStore, prefix []byte, fill func(k []byte, e *T) any) ([]byte, error) {
	list := []T{}
	var derr error // Iterate's own error must not overwrite it
	err := st.Iterate(prefix, func(k, v []byte) bool {
		var e T
		if derr = codec.UnmarshalLimit(v, 1<<20, fill(k, &e)); derr != nil {
			return false
		}
		list = append(list, e)
		return true
	})
	if err = errors.Join(err, derr); err != nil {
		return nil, err
	}
	return codec.Marshal(list)
}
