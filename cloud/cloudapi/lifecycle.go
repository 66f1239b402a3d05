package cloudapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
)

// An alert's lifecycle (package lifecycle) is kept by the cloud beside the
// alert: every change is a signed Request, logged in the patient's access
// log (AccessState) before it is applied, so it is durable, anchored and
// the patient can check it; every provider of the contract, the patient
// and the command line read the same state.
//
//	POST /v1/alert-state   body: a signed Request of a state change (OpAck,
//	                       OpResolve, OpSnooze, OpEscalate, OpNoData);
//	                       answer: CBOR lifecycle.Status, the alert's state after it
//	POST /v1/alert-states  body: a signed Request (OpStates, From: a Seq);
//	                       answer: CBOR AlertStates, the states changed after From
//	POST /v1/heartbeat     body: a signed Request (OpHeartbeat) of a patient's
//	                       gateway; answer: CBOR HeartbeatResult
//
// The requests' fields, per operation:
//
//	OpAck, OpResolve  Record: the alert (a provider with a live grant)
//	OpSnooze          Record: the alert; From: the snooze's end, Unix ms
//	OpEscalate        Record: the alert; Subject: the provider it goes to;
//	                  From: the level it reaches (the patient)
//	OpNoData          Record: the contract; Subject: the silent device;
//	                  From: when it was last heard, Unix ms (the patient).
//	                  The cloud raises a silent gateway's itself, signed
//	                  with its own key, its Subject the patient.
//	OpHeartbeat       Record: the contract; From: its "no data" bound, ms
//	OpStates          From: the Seq after which changes are wanted (0: all)
const (
	OpAck       = "ack"
	OpResolve   = "resolve"
	OpSnooze    = "snooze"
	OpEscalate  = "escalate"
	OpNoData    = "no_data"
	OpHeartbeat = "heartbeat"
	OpStates    = "states"
)

// lifecycleOps are the operations of this file.
var lifecycleOps = map[string]bool{OpAck: true, OpResolve: true, OpSnooze: true, OpEscalate: true, OpNoData: true, OpHeartbeat: true, OpStates: true}

// StateOps are the operations that change an alert's state.
var StateOps = map[string]bool{OpAck: true, OpResolve: true, OpSnooze: true, OpEscalate: true, OpNoData: true}

// Refusals of a state change.
const (
	// CodeUnknownAlert: no alert of that ID (or one whose record is not
	// an alert).
	CodeUnknownAlert = "unknown_alert"
	// CodeIllegalTransition: a change the lifecycle does not allow from
	// the alert's state (see package lifecycle), a bad snooze or a bad
	// escalation.
	CodeIllegalTransition = "illegal_transition"
)

// What an AccessEntry records, beyond audit.go's.
const (
	// AccessState: a change of an alert's state (Record: the alert).
	AccessState = "state"
	// AccessHeartbeat: a gateway's heartbeat armed the cloud's watch of
	// its silence (the first after a start, or a new bound).
	AccessHeartbeat = "heartbeat"
)

// Bounds of the lifecycle.
const (
	// MaxHeartbeatBound bounds a heartbeat's "no data" bound, and
	// MinHeartbeatBound its least.
	MaxHeartbeatBound = 7 * 24 * time.Hour
	MinHeartbeatBound = time.Second
	// MaxStatesPerAnswer bounds one AlertStates.
	MaxStatesPerAnswer = 512
	// MaxStatesSize bounds an AlertStates' encoding.
	MaxStatesSize = 16 << 20
)

// AlertStates answers POST /v1/alert-states: the states, changed after
// the request's From, of the alerts the requester may see (a provider:
// of patients whose grant to it is live, of contracts naming it; a
// patient: its own), in Seq order.
type AlertStates struct {
	States []lifecycle.Status `cbor:"1,keyasint"`
	// Seq is the From of the next request.
	Seq uint64 `cbor:"2,keyasint"`
	// More: the answer was cut at MaxStatesPerAnswer; ask again from Seq.
	More bool `cbor:"3,keyasint,omitempty"`
}

// HeartbeatResult answers a heartbeat.
type HeartbeatResult struct {
	// Armed: the cloud watches the gateway's silence against the bound
	// (it raises a no-data alert when the heartbeats stop past it).
	Armed bool `cbor:"1,keyasint"`
	// Bound is the bound the cloud holds, ms.
	Bound uint64 `cbor:"2,keyasint"`
}

// ChangeAlert signs a change of an alert's state (op OpAck, OpResolve,
// OpSnooze, OpEscalate or OpNoData: see above for its fields) and sends it;
// it returns the alert's state after it.
func (c *Client) ChangeAlert(ctx context.Context, key *identity.SigningKey, op string, alert [32]byte, from uint64, subject *identity.ID) (*lifecycle.Status, error) {
	if !StateOps[op] {
		return nil, fmt.Errorf("%w: %q does not change an alert's state", ErrBadRequest, op)
	}
	cloud, err := c.ID(ctx)
	if err != nil {
		return nil, err
	}
	req, err := NewSubjectRequest(key, cloud, op, alert, from, subject, time.Now())
	if err != nil {
		return nil, err
	}
	return c.ChangeAlertRaw(ctx, req)
}

// ChangeAlertRaw sends an already signed state change.
func (c *Client) ChangeAlertRaw(ctx context.Context, req []byte) (*lifecycle.Status, error) {
	var s lifecycle.Status
	return &s, c.do(ctx, http.MethodPost, "/v1/alert-state", req, 1<<20, &s)
}

// AlertStates asks, with a request signed by key (a provider's or a
// patient's), for the states of its alerts changed after the cloud's Seq
// from.
func (c *Client) AlertStates(ctx context.Context, key *identity.SigningKey, from uint64) (*AlertStates, error) {
	req, err := c.request(ctx, key, OpStates, [32]byte{}, from)
	if err != nil {
		return nil, err
	}
	var s AlertStates
	return &s, c.do(ctx, http.MethodPost, "/v1/alert-states", req, MaxStatesSize, &s)
}

// Heartbeat tells the cloud, with a request signed by the patient's key,
// that the gateway lives, and that it must raise a no-data alert to the
// contract's providers if no heartbeat comes for longer than bound.
func (c *Client) Heartbeat(ctx context.Context, key *identity.SigningKey, contract [32]byte, bound time.Duration) (*HeartbeatResult, error) {
	req, err := c.request(ctx, key, OpHeartbeat, contract, uint64(bound.Milliseconds()))
	if err != nil {
		return nil, err
	}
	var h HeartbeatResult
	return &h, c.post(ctx, "/v1/heartbeat", req, &h)
}

// checkStateEntry checks the request of an AccessState or AccessHeartbeat
// entry: what it asks is what the entry says was done.
func checkStateEntry(e *AccessEntry, r *Request) error {
	switch {
	case e.Op == AccessHeartbeat && r.Op != OpHeartbeat:
		return fmt.Errorf("a %q request logged as %q", r.Op, e.Op)
	case e.Op == AccessHeartbeat:
		return nil
	case !StateOps[r.Op]:
		return fmt.Errorf("a %q request logged as %q", r.Op, e.Op)
	case r.Op == OpNoData:
		var dev identity.ID
		copy(dev[:], r.Subject)
		if dev == e.Patient {
			dev = identity.ID{} // a silent gateway's, raised by the cloud
		}
		if id := lifecycle.NoDataID(e.Patient, dev, int64(r.From)); id != e.Record {
			return fmt.Errorf("the request raises no-data alert %x, the entry names %x", id[:8], e.Record[:8])
		}
	case r.Record != e.Record:
		return fmt.Errorf("the request changes alert %x, the entry names %x", r.Record[:8], e.Record[:8])
	}
	return nil
}
