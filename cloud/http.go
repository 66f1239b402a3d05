package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/merklelog"
)

// HTTP API. Records and requests travel as CBOR (Content-Type
// application/cbor); control answers are JSON.
//
//	POST /v1/records    body: CBOR array of records (byte strings), at most MaxUploadRecords
//	                    answer: CBOR UploadResponse, one Ack per record, once every accepted one is durable
//	POST /v1/read       body: a signed Request (op "read"); answer: CBOR ReadResult
//	POST /v1/access     body: a signed Request (op "access"); answer: CBOR []AccessEntry
//	GET  /v1/checkpoint answer: JSON of each log's current and anchored checkpoint
//	GET  /v1/consistency?log=L&from=A&to=B
//	                    answer: CBOR ConsistencyResult: both checkpoints and the proof
//	                    that the log at size A is a prefix of it at size B
//	GET  /healthz       200 "ok"
//	GET  /metrics       Prometheus
//
// A refused request gets a 4xx (5xx if the cloud or the ledger failed) and a
// CBOR Problem with a code (the metric's reason label) and a message.
const (
	MaxUploadRecords = 1024
	MaxUploadBytes   = 8 << 20
)

// UploadResponse answers an upload.
type UploadResponse struct {
	Acks []Ack `cbor:"1,keyasint"`
}

// Problem is a refused request's answer.
type Problem struct {
	Code    string `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint"`
}

// Handler returns the cloud's HTTP API. gatherer serves /metrics (nil: no metrics).
func (s *Service) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/records", s.handleUpload)
	mux.HandleFunc("POST /v1/read", s.handleRead)
	mux.HandleFunc("POST /v1/access", s.handleAccess)
	mux.HandleFunc("POST /v1/alerts", s.handleAlerts)
	mux.HandleFunc("GET /v1/checkpoint", s.handleCheckpoint)
	mux.HandleFunc("GET /v1/consistency", s.handleConsistency)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

func writeCBOR(w http.ResponseWriter, status int, v any) {
	b, err := codec.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(status)
	w.Write(b)
}

func problem(w http.ResponseWriter, status int, code string, err error) {
	writeCBOR(w, status, &Problem{Code: code, Message: err.Error()})
}

// readBody reads a request body of at most limit bytes; if it cannot, it
// answers the request and returns the refusal's code.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, string) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(w, http.StatusRequestEntityTooLarge, "too_large", err)
			return nil, "too_large"
		}
		problem(w, http.StatusBadRequest, "bad_request", err)
		return nil, "bad_request"
	}
	return b, ""
}

func (s *Service) handleUpload(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, MaxUploadBytes)
	if code != "" {
		s.m.refused.WithLabelValues(code).Inc()
		return
	}
	var raws [][]byte
	if err := codec.UnmarshalLimit(body, MaxUploadBytes, &raws); err != nil {
		s.m.refused.WithLabelValues("malformed").Inc()
		problem(w, http.StatusBadRequest, "malformed", err)
		return
	}
	if len(raws) == 0 || len(raws) > MaxUploadRecords {
		s.m.refused.WithLabelValues("malformed").Inc()
		problem(w, http.StatusBadRequest, "malformed", errors.New("an upload carries 1 to 1024 records"))
		return
	}
	writeCBOR(w, http.StatusOK, &UploadResponse{Acks: s.Ingest(r.Context(), raws)})
}

func status(err error) int {
	switch {
	case errors.Is(err, ErrRecordAbsent):
		return http.StatusNotFound
	case errors.Is(err, ErrUnknownSigner), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale), errors.Is(err, ErrReplay):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNoGrant), errors.Is(err, ErrRevoked), errors.Is(err, ErrExpired), errors.Is(err, ErrScope), errors.Is(err, ErrWrongRole):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrStore):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	res, err := s.Read(r.Context(), body)
	if err != nil {
		problem(w, status(err), readReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, res)
}

func (s *Service) handleAccess(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	entries, err := s.AccessLog(r.Context(), body)
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		problem(w, status(err), readReason(err), err)
		return
	}
	if entries == nil {
		entries = []AccessEntry{}
	}
	writeCBOR(w, http.StatusOK, entries)
}

// handleAlerts serves a provider's alerts; the query parameter wait (a Go
// duration, at most MaxAlertWait) makes it a long poll.
func (s *Service) handleAlerts(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.m.readsRefused.WithLabelValues("bad_request").Inc()
			problem(w, http.StatusBadRequest, "bad_request", fmt.Errorf("wait %q is not a duration", v))
			return
		}
		wait = d
	}
	b, err := s.Alerts(r.Context(), body, wait)
	if err != nil {
		problem(w, status(err), readReason(err), err)
		return
	}
	if b.Alerts == nil {
		b.Alerts = []Alert{}
	}
	writeCBOR(w, http.StatusOK, b)
}

type checkpointJSON struct {
	Size     uint64 `json:"size"`
	Root     []byte `json:"root"`
	Anchored uint64 `json:"anchored_size"`
}

func (s *Service) handleCheckpoint(w http.ResponseWriter, _ *http.Request) {
	rc, ra, ac, aa := s.Checkpoints()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"cloud":   s.id.Hex(),
		"records": checkpointJSON{Size: rc.Size, Root: rc.Root[:], Anchored: ra.Size},
		"access":  checkpointJSON{Size: ac.Size, Root: ac.Root[:], Anchored: aa.Size},
		"time":    time.Now().UTC().Format(time.RFC3339Nano),
	})
}

// ConsistencyResult answers GET /v1/consistency.
type ConsistencyResult struct {
	Old   merklelog.Checkpoint `cbor:"1,keyasint"`
	New   merklelog.Checkpoint `cbor:"2,keyasint"`
	Proof merklelog.Proof      `cbor:"3,keyasint"`
}

func (s *Service) handleConsistency(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lg, err1 := strconv.ParseUint(q.Get("log"), 10, 8)
	from, err2 := strconv.ParseUint(q.Get("from"), 10, 64)
	to, err3 := strconv.ParseUint(q.Get("to"), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || lg > uint64(LogAccess) || from > to {
		problem(w, http.StatusBadRequest, "bad_request", fmt.Errorf("want log=0|1, from<=to: %v", err))
		return
	}
	old, cur, p, err := s.Consistency(uint8(lg), from, to)
	if err != nil {
		problem(w, http.StatusBadRequest, "bad_request", err)
		return
	}
	writeCBOR(w, http.StatusOK, &ConsistencyResult{Old: old, New: cur, Proof: p})
}
