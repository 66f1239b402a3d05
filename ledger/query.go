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
)

// Query paths, answered in CBOR by Query:
//
//	member/ID                      Member
//	seq/ID                         uint64: the highest sequence number the signer has used
//	authorities                    []Authority
//	pending                        []Change: validator changes not yet applied
//	cluster/N                      ClusterInfo
//	params                         Params
//	contract/CONTRACT              ContractRecord
//	contracts/PATIENT              [][32]byte: the patient's contracts
//	epoch/PATIENT                  PatientState
//	envelope/PATIENT/EPOCH/ID      []byte: the envelope of that epoch's key for ID
//	grant/PATIENT/PROVIDER         GrantRecord
//	grants/PATIENT                 []GrantEntry
//	anchor/CLOUD/LOG               AnchorRecord: the latest
//	anchor/CLOUD/LOG/SIZE          AnchorRecord: the one of that size
//	alert/PATIENT/RECORD           AlertRecord
//	record3/PATIENT                []ProviderRecordListing
//	command/DEVICE                 DeviceCommandRecord
//	absent/AUTHORITY               Absence: since when (block time), and from how many consecutive decided
//	                               commits (counted up to HeadAbsentCommits), its signature is missing;
//	                               not found while it signs, and for one that is not an authority
//	chain_id                       string: the chain's ID, which every transaction signs
//
// IDs, contracts and records are in hex.

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

// Query answers a read-only query against the committed state.
func Query(st IterStore, path string) ([]byte, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadQuery, path, fmt.Sprintf(format, args...))
	}
	ids := make([][]byte, 0, len(parts))
	hexArg := func(i, n int) ([]byte, error) {
		if i >= len(parts) {
			return nil, fmt.Errorf("%w: %s: missing argument %d", ErrBadQuery, path, i)
		}
		b, err := hex.DecodeString(parts[i])
		if err != nil || len(b) != n {
			return nil, fmt.Errorf("%w: %s: argument %d is not %d bytes of hex", ErrBadQuery, path, i, n)
		}
		ids = append(ids, b)
		return b, nil
	}
	want := func(n int) error {
		if len(parts) != n {
			return fmt.Errorf("%w: %s: want %d path elements", ErrBadQuery, path, n)
		}
		return nil
	}
	one := func(k []byte) ([]byte, error) {
		v, err := st.Get(k)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
		}
		return v, nil
	}
	var err error
	switch parts[0] {
	case QueryMember, QuerySeq, QueryEpoch, QueryContracts, QueryGrants, QueryRecord3, QueryCommand, QueryAbsent:
		if err = want(2); err != nil {
			return nil, err
		}
		id, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		switch parts[0] {
		case QueryMember:
			return one(key(pMember, id))
		case QuerySeq:
			var w seqWindow
			if _, err := getCBOR(st, key(pSeq, id), &w); err != nil {
				return nil, err
			}
			return codec.Marshal(w.Max)
		case QueryEpoch:
			var ps PatientState
			if _, err := getCBOR(st, key(pPatient, id), &ps); err != nil {
				return nil, err
			}
			return codec.Marshal(&ps)
		case QueryCommand:
			return one(key(pDeviceCmd, id))
		case QueryAbsent:
			return one(key(pAbsent, id))
		case QueryContracts:
			list := [][32]byte{}
			err = st.Iterate(key(pPatientK, id), func(k, _ []byte) bool {
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
			return listing(st, key(pGrant, id), func(k []byte, e *GrantEntry) any {
				copy(e.Provider[:], k[1+32:])
				return &e.Grant
			})
		case QueryRecord3:
			return listing(st, key(pRecord3, id), func(k []byte, e *ProviderRecordListing) any {
				copy(e.Record[:], k[1+32:])
				return &e.Entry
			})
		}
	case QueryChainID:
		if err = want(1); err != nil {
			return nil, err
		}
		id, err := one([]byte{pChainID})
		if err != nil {
			return nil, err
		}
		return codec.Marshal(string(id))
	case QueryAuthorities, QueryPending, QueryParams:
		if err = want(1); err != nil {
			return nil, err
		}
		switch parts[0] {
		case QueryParams:
			var p Params
			ok, err := getCBOR(st, []byte{pParams}, &p)
			if err != nil {
				return nil, err
			}
			if !ok {
				p = DefaultParams()
			}
			return codec.Marshal(&p)
		case QueryPending:
			var l changeList
			if _, err := getCBOR(st, []byte{pPending}, &l); err != nil {
				return nil, err
			}
			if l.List == nil {
				l.List = []Change{}
			}
			return codec.Marshal(l.List)
		default:
			var l authorityList
			if _, err := getCBOR(st, []byte{pAuthorities}, &l); err != nil {
				return nil, err
			}
			if l.List == nil {
				l.List = []Authority{}
			}
			return codec.Marshal(l.List)
		}
	case QueryCluster:
		if err = want(2); err != nil {
			return nil, err
		}
		n, perr := strconv.ParseUint(parts[1], 10, 32)
		if perr != nil {
			return bad("cluster number %q", parts[1])
		}
		var info ClusterInfo
		ok, err := getCBOR(st, key(pCluster, be32(uint32(n))), &info.Cluster)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
		}
		err = st.Iterate(key(pClusterMem, be32(uint32(n))), func(k, _ []byte) bool {
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
	case QueryContract:
		if err = want(2); err != nil {
			return nil, err
		}
		c, err := hexArg(1, 32)
		if err != nil {
			return nil, err
		}
		return one(key(pContract, c))
	case QueryEnvelope:
		if err = want(4); err != nil {
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
		v, err := one(key(pEnvelope, p, be64(epoch), r))
		if err != nil {
			return nil, err
		}
		return codec.Marshal(v)
	case QueryGrant, QueryAlert:
		if err = want(3); err != nil {
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
		if parts[0] == QueryGrant {
			return one(key(pGrant, a, b))
		}
		return one(key(pAlert, a, b))
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
			return one(key(pAnchor, c, []byte{byte(lg)}))
		}
		size, perr := strconv.ParseUint(parts[3], 10, 64)
		if perr != nil {
			return bad("size %q", parts[3])
		}
		return one(key(pAnchorAt, c, []byte{byte(lg)}, be64(size)))
	}
	return bad("unknown query")
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
