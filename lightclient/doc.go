// Package lightclient verifies what a CometBFT v0.38 node serves against
// the validators, as CometBFT's light client does, without linking
// CometBFT: the patient's gateway, which must stay small, checks the
// ledger's answers with it.
//
// It is CometBFT's verification algorithm (light/verifier.go and the
// commit checks of types/validation.go), written again small and pure: no
// I/O, no clock (the time comes in as an argument), no goroutines; the one
// thing it draws from outside is crypto/rand's randomness for batch
// signature verification, as CometBFT does. It links nothing the gateway
// did not link already (protowire for the encodings, transparency-dev's
// RFC 6962 hasher for the Merkle trees, ed25519consensus, package codec
// for the persisted state). Its
// tests hold it equal to CometBFT's own code: the same header and
// validator-set hashes, and the same verdict on thousands of random and
// forged headers, commits and validator sets; and it verifies headers a
// VitalChain network served (testdata).
//
// # What it checks
//
//   - A header's hash is CometBFT's Header.Hash (Header.Hash): the RFC 6962
//     Merkle root of its 14 fields' protobuf encodings. A validator set's
//     hash is the root of its validators' SimpleValidator encodings
//     (ValidatorSet.Hash).
//   - A commit (VerifyCommitLight) holds one entry per validator, in the
//     set's order; more than 2/3 of the set's voting power must have signed,
//     each with Ed25519 (ZIP 215's rules, as CometBFT's), a precommit for
//     this height, round and block of this chain (Commit.VoteSignBytes);
//     votes for nil and absent ones count for nothing.
//   - Moving trust forward (Trusted.Next, Verifier.Verify): the trusted
//     header must not have expired (TrustingPeriod); the new one must be of
//     the same chain, later in height and in time, not from the future
//     (MaxClockDrift), its validators the set given. At the next height its
//     validators must be those the trusted header named next; further on
//     (skipping), more than the trust level (1/3) of the trusted validators
//     must have signed it too, else ErrNotEnoughTrust and a header in
//     between must be verified first (Verifier.VerifyTo bisects).
//
// Trust is rooted in a header whose height and hash the client knows out
// of band (TrustHeader: CometBFT's TrustOptions), or in a genesis
// (TrustGenesis, DecodeGenesis), for a chain younger than the trusting
// period (the demo's). A Verifier's trust persists across restarts with
// Trusted.MarshalBinary and UnmarshalBinary.
//
// # How a client uses it
//
// To act on an answer of the ledger at height H (an ABCI query's value and
// its proof), a client:
//
//  1. fetches /commit?height=H+1 and /validators?height=H+1&per_page=100
//     (every page), and decodes them (DecodeCommit, DecodeValidators,
//     JoinPages). The app hash after block H is in header H+1: CometBFT
//     commits a block's resulting state in the next block's header, so a
//     client that needs it now may have to wait for block H+1;
//  2. verifies them: Verifier.Verify(now, signedHeader, validators), or
//     Verifier.VerifyTo(now, H+1, fetch) to bisect where the validators
//     changed much since the trusted header. A header it verified already,
//     or the parent of one, checks again without validators;
//  3. checks the answer's proof against signedHeader.Header.AppHash, and
//     acts on the answer only if it holds;
//  4. persists Verifier.Trusted() now and then (MarshalBinary).
//
// Any error is a refusal of the answer. ErrExpired means that the client
// must root its trust again; ErrConflict with a header whose commit
// verifies means a fork. Every other refusal (a bad signature, a set that
// does not match, a header out of order, a malformed answer) is a node's
// to answer for: the client fails over to another node.
//
// # Limits
//
// Answers are bounded (MaxCommitSize, MaxValidatorsSize, MaxPerPage,
// MaxValidators), and validator keys must be Ed25519 (ErrUnsupportedKey).
// A Verifier keeps the last Recent headers it verified in memory and moves
// forward only: it does not verify a header older than those (ErrOldHeader).
// It does not cross-check witnesses or report evidence, as CometBFT's full
// light client can: the caller compares nodes if it wants to.
package lightclient
