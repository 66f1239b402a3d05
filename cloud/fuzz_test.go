package cloud

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

var testTime = time.UnixMilli(1_700_000_000_000)

// fuzzSeeds returns records of the env: good ones, and ones refused for
// each reason.
func fuzzSeeds(e *testEnv) [][]byte {
	provider := e.member(identity.RoleProvider, 1)
	good, _ := e.record(vital.Glucose)
	prov, _ := e.sealBy(provider, record.Header{Patient: e.patient.ID(), Time: e.clock.Now().UnixMilli(), Seq: 1})
	ahead, _ := e.resign(good, e.patient.Signing, func(h *record.Header) { h.Epoch = 9 })
	wrong, _ := e.resign(good, provider.Signing, func(h *record.Header) {})
	bad := bytes.Clone(good)
	bad[len(bad)-3] ^= 1
	return [][]byte{good, prov, ahead, wrong, bad, good[:len(good)/2], append(bytes.Clone(prov), 0)}
}

// FuzzIngest: arbitrary bytes never panic the service, and nothing is
// stored unless it is a valid record.
func FuzzIngest(f *testing.F) {
	e := newEnv(f)
	for _, s := range fuzzSeeds(e) {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		before, err := e.st.Size(LogRecords)
		if err != nil {
			t.Fatal(err)
		}
		a := e.svc.Ingest(ctx, [][]byte{b})[0]
		after, err := e.st.Size(LogRecords)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a.Code != "" && after != before:
			t.Fatalf("refused (%s) but the log grew by %d", a.Code, after-before)
		case a.Code == "" && a.Duplicate && after != before:
			t.Fatalf("a duplicate grew the log by %d", after-before)
		case a.Code == "" && !a.Duplicate && after != before+1:
			t.Fatalf("accepted but the log grew by %d", after-before)
		case a.Code == "":
			checkAccepted(t, e, b, a)
		}
	})
}

// checkAccepted checks an accepted record: valid, and stored.
func checkAccepted(t *testing.T, e *testEnv, b []byte, a cloudapi.Ack) {
	t.Helper()
	_, _, err := record.Verify(b, func(id identity.ID) (identity.VerifyingKey, error) {
		m, err := e.led.Member(context.Background(), id)
		if err != nil {
			return identity.VerifyingKey{}, err
		}
		return m.VerifyingKey()
	})
	if err != nil {
		t.Fatalf("accepted an invalid record: %v", err)
	}
	stored, err := e.st.Record(a.ID)
	if err != nil || stored.Index != a.Index {
		t.Fatalf("accepted but not stored: %+v %v", stored, err)
	}
	if !a.Duplicate && !bytes.Equal(stored.Bytes, b) {
		t.Fatal("stored bytes differ from the accepted ones")
	}
}

// FuzzUpload: the upload handler on arbitrary bodies.
func FuzzUpload(f *testing.F) {
	e := newEnv(f)
	seeds := fuzzSeeds(e)
	all, _ := codec.Marshal(seeds)
	one, _ := codec.Marshal(seeds[:1])
	empty, _ := codec.Marshal([][]byte{})
	for _, s := range [][]byte{all, one, empty, {0x80}, {0x81, 0x40}, seeds[0]} {
		f.Add(s)
	}
	h := e.svc.Handler(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := e.st.Size(LogRecords)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body)))
		after, _ := e.st.Size(LogRecords)
		if w.Code != http.StatusOK {
			var p cloudapi.Problem
			if err := codec.UnmarshalLimit(w.Body.Bytes(), 1<<20, &p); err != nil || p.Code == "" {
				t.Fatalf("status %d with %q", w.Code, w.Body.Bytes())
			}
			if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", w.Code)
			}
			if after != before {
				t.Fatal("a refused upload grew the log")
			}
			return
		}
		var raws [][]byte
		if err := codec.UnmarshalLimit(body, cloudapi.MaxUploadBytes, &raws); err != nil {
			t.Fatalf("accepted an upload that does not decode: %v", err)
		}
		var res cloudapi.UploadResponse
		if err := codec.UnmarshalLimit(w.Body.Bytes(), 1<<26, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Acks) != len(raws) || len(raws) == 0 || len(raws) > cloudapi.MaxUploadRecords {
			t.Fatalf("%d acks for %d records", len(res.Acks), len(raws))
		}
		var grew uint64
		for i, a := range res.Acks {
			if a.Code == "" && !a.Duplicate {
				grew++
			}
			if a.Code == "" {
				checkAccepted(t, e, raws[i], a)
			}
		}
		if after-before != grew {
			t.Fatalf("the log grew by %d for %d new records", after-before, grew)
		}
	})
}

// FuzzRead: reads and access-log requests of arbitrary bytes never panic,
// and nothing but a valid signed request is served.
func FuzzRead(f *testing.F) {
	e := newEnv(f)
	raw, id := e.record(vital.Glucose)
	if a := e.svc.Ingest(context.Background(), [][]byte{raw})[0]; a.Code != "" {
		f.Fatal(a.Error)
	}
	f.Add(e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
	f.Add(e.request(e.patient.Signing, cloudapi.OpAccess, id, 0))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		res, rerr := e.svc.Read(ctx, b)
		_, aerr := e.svc.AccessLog(ctx, b)
		if rerr == nil || aerr == nil {
			r, err := cloudapi.ParseRequest(b)
			if err != nil {
				t.Fatalf("served a request that does not parse: %v", err)
			}
			if rerr == nil && (r.Requester != e.patient.ID() || !bytes.Equal(res.Record, raw)) {
				t.Fatalf("served %+v", r)
			}
		}
	})
}
