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

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// The HTTP API is documented, with its wire types, in package cloudapi.

// Handler returns the cloud's HTTP API. gatherer serves /metrics (nil: no metrics).
func (s *Service) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/records", s.handleUpload)
	mux.HandleFunc("POST /v1/read", s.handleRead)
	mux.HandleFunc("POST /v1/access", s.handleAccess)
	mux.HandleFunc("POST /v1/erase", s.handleErase)
	mux.HandleFunc("POST /v1/alerts", s.handleAlerts)
	mux.HandleFunc("POST /v1/alert-state", s.handleAlertState)
	mux.HandleFunc("POST /v1/alert-states", s.handleAlertStates)
	mux.HandleFunc("POST /v1/heartbeat", s.handleHeartbeat)
	mux.HandleFunc("GET /v1/checkpoint", s.handleCheckpoint)
	mux.HandleFunc("GET /v1/proof", s.handleProof)
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

// problem answers a refused request. A refusal by a process that does not
// sequence names the one that does, if known.
func problem(w http.ResponseWriter, status int, code string, err error) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1") // a refusal for load, or by a follower: cloudapi.Client retries
	}
	p := &cloudapi.Problem{Code: code, Message: err.Error()}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		p.Leader = nl.Leader
	}
	var ee *ErasedError
	if errors.As(err, &ee) {
		p.Erased = ee.Proof
	}
	writeCBOR(w, status, p)
}

// readBody reads a request body of at most limit bytes, into one buffer of
// its announced length (a body of unknown length grows as it comes); if it
// cannot, it answers the request and returns the refusal's code.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, string) {
	if r.ContentLength > limit {
		err := fmt.Errorf("a body of %d bytes, limit %d", r.ContentLength, limit)
		problem(w, http.StatusRequestEntityTooLarge, cloudapi.CodeTooLarge, err)
		return nil, cloudapi.CodeTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	var b []byte
	var err error
	if r.ContentLength >= 0 {
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(w, http.StatusRequestEntityTooLarge, cloudapi.CodeTooLarge, err)
			return nil, cloudapi.CodeTooLarge
		}
		problem(w, http.StatusBadRequest, cloudapi.CodeBadRequest, err)
		return nil, cloudapi.CodeBadRequest
	}
	return b, ""
}

func (s *Service) handleUpload(w http.ResponseWriter, r *http.Request) {
	if err := s.checkSequencing(); err != nil {
		s.m.refused.WithLabelValues(reason(err)).Inc()
		problem(w, http.StatusServiceUnavailable, reason(err), err)
		return
	}
	body, code := readBody(w, r, cloudapi.MaxUploadBytes)
	if code != "" {
		s.m.refused.WithLabelValues(code).Inc()
		return
	}
	var raws [][]byte
	if err := codec.UnmarshalLimit(body, cloudapi.MaxUploadBytes, &raws); err != nil {
		s.m.refused.WithLabelValues(cloudapi.CodeMalformed).Inc()
		problem(w, http.StatusBadRequest, cloudapi.CodeMalformed, err)
		return
	}
	if len(raws) == 0 || len(raws) > cloudapi.MaxUploadRecords {
		s.m.refused.WithLabelValues(cloudapi.CodeMalformed).Inc()
		problem(w, http.StatusBadRequest, cloudapi.CodeMalformed, fmt.Errorf("an upload carries 1 to %d records", cloudapi.MaxUploadRecords))
		return
	}
	acks := s.Ingest(r.Context(), raws)
	receipt, err := s.Receipt(acks)
	if err != nil {
		problem(w, http.StatusInternalServerError, cloudapi.CodeUnavailable, err)
		return
	}
	writeCBOR(w, http.StatusOK, &cloudapi.UploadResponse{Acks: acks, Receipt: receipt})
}

func status(err error) int {
	switch {
	case errors.Is(err, ErrRecordAbsent), errors.Is(err, ErrUnknownAlert):
		return http.StatusNotFound
	case errors.Is(err, ErrIllegalTransition):
		return http.StatusConflict
	case errors.Is(err, ErrErased):
		return http.StatusGone
	case errors.Is(err, ErrUnknownSigner), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale), errors.Is(err, ErrReplay):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNoGrant), errors.Is(err, ErrRevoked), errors.Is(err, ErrExpired), errors.Is(err, ErrScope), errors.Is(err, ErrWrongRole), errors.Is(err, ErrWrongCloud):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrStore), errors.Is(err, ErrNotLeader), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
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
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	l, err := s.AccessLog(r.Context(), body)
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		problem(w, status(err), readReason(err), err)
		return
	}
	if l.Entries == nil {
		l.Entries, l.Proofs = []cloudapi.AccessEntry{}, []merklelog.Proof{}
	}
	writeCBOR(w, http.StatusOK, l)
}

func (s *Service) handleErase(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.erasures.WithLabelValues(code).Inc()
		return
	}
	res, err := s.Erase(r.Context(), body)
	if err != nil {
		problem(w, status(err), readReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, res)
}

// handleAlerts serves a provider's alerts; the query parameter wait (a Go
// duration, at most MaxAlertWait) makes it a long poll.
func (s *Service) handleAlerts(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.m.readsRefused.WithLabelValues(cloudapi.CodeBadRequest).Inc()
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
		b.Alerts = []cloudapi.Alert{}
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
	role := "follower"
	if s.Sequencing() {
		role = "sequencer"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"cloud":   s.id.Hex(),
		"records": checkpointJSON{Size: rc.Size, Root: rc.Root[:], Anchored: ra.Size},
		"access":  checkpointJSON{Size: ac.Size, Root: ac.Root[:], Anchored: aa.Size},
		"time":    time.Now().UTC().Format(time.RFC3339Nano),
		"role":    role,       // this process: the sequencer, or a follower (see cloud.Lease)
		"leader":  s.Leader(), // the sequencer's URL, if known
	})
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
		problem(w, http.StatusBadRequest, cloudapi.CodeBadRequest, err)
		return
	}
	writeCBOR(w, http.StatusOK, &cloudapi.ConsistencyResult{Old: old, New: cur, Proof: p})
}

func (s *Service) handleProof(w http.ResponseWriter, r *http.Request) {
	id, err := identity.ParseID(r.URL.Query().Get("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, cloudapi.CodeBadRequest, fmt.Errorf("id: %w", err))
		return
	}
	p, err := s.Proof(id)
	if err != nil {
		problem(w, status(err), readReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, p)
}

func (s *Service) handleAlertState(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.alertChanges.WithLabelValues(code).Inc()
		return
	}
	st, err := s.ChangeAlert(r.Context(), body)
	if err != nil {
		problem(w, status(err), lifecycleReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, st)
}

func (s *Service) handleAlertStates(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.readsRefused.WithLabelValues(code).Inc()
		return
	}
	st, err := s.AlertStates(r.Context(), body)
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		problem(w, status(err), readReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, st)
}

func (s *Service) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	body, code := readBody(w, r, cloudapi.MaxRequestSize)
	if code != "" {
		s.m.heartbeats.WithLabelValues(code).Inc()
		return
	}
	res, err := s.Heartbeat(r.Context(), body)
	if err != nil {
		problem(w, status(err), lifecycleReason(err), err)
		return
	}
	writeCBOR(w, http.StatusOK, res)
}
