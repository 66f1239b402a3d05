package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/internal/benchplot"
	"github.com/vitalchain/vitalchain/internal/testbed"
	rusage "github.com/vitalchain/vitalchain/internal/usage"
)

// e2eUnits are a run's per-unit costs ('units' of bench e2e --json), the
// inputs of `vitalchain plan`.
type e2eUnits struct {
	// GatewayCPUSPerReading: CPU seconds of a patient's gateway per
	// reading it handles, from patient 0's gateway process (/proc) when it
	// runs apart (GatewayCPUFrom "process"), else from the profile's
	// in-process gateways ("profile").
	GatewayCPUSPerReading float64 `json:"gateway_cpu_s_per_reading"`
	GatewayCPUFrom        string  `json:"gateway_cpu_from"`
	// GatewayMemoryMB: the gateway process's own memory (RssAnon) at the
	// end of the run, for one patient.
	GatewayMemoryMB float64 `json:"gateway_memory_mb_per_patient,omitempty"`
	// CloudCPUSPerRecord: the cloud's CPU seconds (its labelled share of
	// the profile, the runtime's share in proportion) per record stored.
	CloudCPUSPerRecord float64 `json:"cloud_cpu_s_per_record"`
	// AuthorityCPUSPerTx and AuthorityCPUSPerReading: one authority's CPU
	// seconds (the 4 nodes' share ÷ 4) per transaction committed and per
	// reading handled (its reads by gateways and providers included).
	AuthorityCPUSPerTx      float64 `json:"authority_cpu_s_per_tx"`
	AuthorityCPUSPerReading float64 `json:"authority_cpu_s_per_reading"`
	// DBBatchesPerRecord and DBWALBytesPerRecord: the cloud store's synced
	// batches and write-ahead log bytes per record stored.
	DBBatchesPerRecord   float64 `json:"db_synced_batches_per_record"`
	DBWALBytesPerRecord  float64 `json:"db_wal_bytes_per_record"`
	RecordsPerReading    float64 `json:"records_per_reading"`
	ChainBytesPerReading float64 `json:"chain_bytes_per_reading"`
	// ChainBytesPerBlock: chain bytes ÷ blocks with transactions (each
	// block with its header and commit).
	ChainBytesPerBlock float64 `json:"chain_bytes_per_block"`
	TxsPerBlock        float64 `json:"txs_per_block"`
}

// authorities is the number of nodes a testbed system runs.
const authorities = 4

func unitsOf(r *e2eResult, gatewayProcCPU float64, external bool) e2eUnits {
	s := r.Summary
	var u e2eUnits
	div := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return a / b
	}
	readings, records := float64(s.Readings), float64(s.RecordsStored)
	if external && gatewayProcCPU > 0 {
		// Every patient has the same wearables at the same interval.
		u.GatewayCPUSPerReading = div(gatewayProcCPU, readings/float64(s.Patients))
		u.GatewayCPUFrom = "process"
		u.GatewayMemoryMB = r.GatewayAnonMB
	} else {
		inProcess := readings
		if external {
			inProcess = readings * float64(s.Patients-1) / float64(s.Patients)
		}
		u.GatewayCPUSPerReading = div(r.CPU.Share("gateway"), inProcess)
		u.GatewayCPUFrom = "profile"
	}
	u.CloudCPUSPerRecord = div(r.CPU.Share("cloud"), records)
	u.AuthorityCPUSPerTx = div(r.CPU.Share("authority")/authorities, float64(s.ChainTxs))
	u.AuthorityCPUSPerReading = div(r.CPU.Share("authority")/authorities, readings)
	u.DBBatchesPerRecord = div(float64(r.CloudStore.SyncedBatches), records)
	u.DBWALBytesPerRecord = div(float64(r.CloudStore.WALBytes), records)
	u.RecordsPerReading = div(records, readings)
	u.ChainBytesPerReading = s.OnchainBytesPerReading
	u.ChainBytesPerBlock = div(float64(s.ChainBytes), float64(s.ChainBlocksWithTxs))
	u.TxsPerBlock = div(float64(s.ChainTxs), float64(s.ChainBlocksWithTxs))
	return u
}

func cloudStoreMetrics(s *testbed.System) pebblestore.Metrics {
	if m, ok := s.Cloud.Store.(interface{ Metrics() pebblestore.Metrics }); ok {
		return m.Metrics()
	}
	return pebblestore.Metrics{}
}

// sweep is --sweep: a setting and its values.
type sweep struct {
	name   string
	values []float64 // readings/s, patients, or milliseconds
}

func parseSweep(v string) (sweep, error) {
	if v == "" {
		return sweep{}, nil
	}
	name, list, ok := strings.Cut(v, "=")
	if !ok || list == "" {
		return sweep{}, fmt.Errorf("--sweep %q: want rate=R1,R2,…, patients=N1,N2,… or seal=D1,D2,…", v)
	}
	sw := sweep{name: name}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		var x float64
		var err error
		switch name {
		case "rate":
			x, err = strconv.ParseFloat(f, 64)
		case "patients":
			var n int
			n, err = strconv.Atoi(f)
			x = float64(n)
		case "seal":
			var d time.Duration
			d, err = time.ParseDuration(f)
			x = float64(d) / float64(time.Millisecond)
			if err == nil && d < 50*time.Millisecond {
				err = fmt.Errorf("under 50ms")
			}
		default:
			return sweep{}, fmt.Errorf("--sweep %q: unknown setting %q (want rate, patients or seal)", v, name)
		}
		if err != nil || x <= 0 {
			return sweep{}, fmt.Errorf("--sweep %s: bad value %q", name, f)
		}
		sw.values = append(sw.values, x)
	}
	if len(sw.values) < 2 {
		return sweep{}, fmt.Errorf("--sweep %s: give at least two values", name)
	}
	return sw, nil
}

// sweepPoints are the figures of a sweep's runs that its curves draw.
func sweepPoints(rs []*e2eResult) []benchplot.SweepPoint {
	var out []benchplot.SweepPoint
	for _, r := range rs {
		s := r.Summary
		out = append(out, benchplot.SweepPoint{
			TargetRate: r.TargetRate, ReadingsPerS: s.ReadingsPerS, Patients: float64(s.Patients), SealMs: float64(r.SealIntervalMs),
			RecordsPerS: float64(s.RecordsStored) / s.DurationS,
			AlertP99Ms:  s.AlertLatencyMs.P99, AnchorP99Ms: s.AnchorLatencyMs.P99, AnchorP50Ms: s.AnchorLatencyMs.P50,
			BytesPerReading: s.OnchainBytesPerReading,
			CloudCores:      r.CPU.Share("cloud") / r.CPU.WallS, GatewayCores: r.CPU.Share("gateway") / r.CPU.WallS,
			AuthorityCores: r.CPU.Share("authority") / r.CPU.WallS,
			GatewayProcMB:  r.GatewayAnonMB, GatewayProcCPUPerReading: r.Units.GatewayCPUSPerReading,
		})
	}
	return out
}

// soak is a run's series (--sample) and what they show.
type soak struct {
	EveryS  float64      `json:"sample_every_s"`
	WarmupS float64      `json:"warmup_s"` // samples before this are left out of the slopes
	Samples []soakSample `json:"samples"`
	// Slopes of the memory series after warm-up, in MB per hour (goal:
	// under 5 for every process).
	Slopes []soakSlope `json:"memory_slopes"`
	// The same over the last half of the samples after warm-up: a cache
	// that fills and stops shows a slope that falls; a leak, one that
	// does not.
	SlopesLastHalf []soakSlope `json:"memory_slopes_last_half"`
	// The p99 latencies over the first and the second half of the run
	// after warm-up: percentiles that do not drift stay alike.
	AlertP99Ms  [2]float64 `json:"alert_p99_ms_halves"`
	AnchorP99Ms [2]float64 `json:"anchor_p99_ms_halves"`
}

type soakSlope struct {
	Series    string  `json:"series"`
	MBPerHour float64 `json:"mb_per_hour"`
}

// soakSample is one sample of a soak. Main is this process (the
// authorities, the cloud, the in-process gateways, the providers and the
// wearables); Gateway is patient 0's gateway process.
type soakSample struct {
	T          float64     `json:"t_s"`
	Readings   uint64      `json:"readings"`
	Main       rusage.Proc `json:"main"`
	MainHeapMB float64     `json:"main_heap_live_mb"` // the Go heap live after the last collection
	// MainGoMB is the memory the Go runtime holds from the system (heap
	// in use and free but not returned, stacks, its own metadata);
	// MainPebbleMB what the Pebble stores (the cloud's, the authorities'
	// apps') allocated outside it: memtables and block caches. Pebble
	// allocates with C's allocator, so that memory is in RSS and not in
	// Go's figures, and it counts only once a page is written.
	MainGoMB        float64             `json:"main_go_mb"`
	MainPebbleMB    float64             `json:"main_pebble_mb"`
	Gateway         rusage.Proc         `json:"gateway"`
	DiskMB          map[string]float64  `json:"disk_mb"` // by part: authority, cloud, gateway
	CloudStore      pebblestore.Metrics `json:"cloud_store"`
	AlertP99Ms      float64             `json:"alert_p99_ms"` // of the alerts since the last sample
	AnchorP99Ms     float64             `json:"anchor_p99_ms"`
	alertN, anchorN int
}

type soakSampler struct {
	s      *testbed.System
	gwPid  int
	every  time.Duration
	warmup time.Duration
	start  time.Time
	// heapProfile, if set, names the heap profiles written at the first
	// sample after warm-up (heapProfile-warm.pb.gz) and at the last one
	// (-last.pb.gz).
	heapProfile string
	warmWritten bool
	mu          sync.Mutex
	samples     []soakSample
	cancel      context.CancelFunc
	done        chan struct{}
}

// soakWarmup is the warm-up of a soak of d, left out of its slopes: the
// first fifth of it, at most 3 minutes.
func soakWarmup(d time.Duration) time.Duration { return min(d/5, 3*time.Minute) }

func startSoak(ctx context.Context, s *testbed.System, gwPid int, every, d time.Duration, heapProfile string) *soakSampler {
	ctx, cancel := context.WithCancel(ctx)
	ss := &soakSampler{s: s, gwPid: gwPid, every: every, warmup: soakWarmup(d), heapProfile: heapProfile,
		start: time.Now(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ss.done)
		t := time.NewTicker(every)
		defer t.Stop()
		ss.take()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ss.take()
			}
		}
	}()
	return ss
}

func (ss *soakSampler) take() {
	alert, anchor := ss.s.Latencies()
	// The heap that the last collection left live (not HeapAlloc, which
	// swings with the garbage not yet collected).
	rt := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(rt)
	mb := func(i int) float64 {
		if rt[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(rt[i].Value.Uint64()) / (1 << 20)
	}
	main, _ := rusage.ReadProc(os.Getpid())
	store := cloudStoreMetrics(ss.s)
	pebble := store.MemoryBytes
	for _, n := range ss.s.Chain.Net.Nodes {
		if n != nil {
			pebble += n.App().StoreMemory()
		}
	}
	smp := soakSample{T: time.Since(ss.start).Seconds(), Readings: ss.s.Readings(), Main: main, MainHeapMB: mb(0),
		MainGoMB: mb(1) - mb(2), MainPebbleMB: float64(pebble) / (1 << 20),
		DiskMB: map[string]float64{}, CloudStore: store, alertN: len(alert), anchorN: len(anchor)}
	if ss.gwPid != 0 {
		smp.Gateway, _ = rusage.ReadProc(ss.gwPid)
	}
	for part, dirs := range ss.s.Dirs() {
		var n int64
		for _, d := range dirs {
			n += rusage.DirBytes(d)
		}
		smp.DiskMB[part] = float64(n) / (1 << 20)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	fromAlert, fromAnchor := 0, 0
	if k := len(ss.samples); k > 0 {
		fromAlert, fromAnchor = ss.samples[k-1].alertN, ss.samples[k-1].anchorN
	}
	smp.AlertP99Ms = testbed.PercentilesOf(alert[min(fromAlert, len(alert)):]).P99
	smp.AnchorP99Ms = testbed.PercentilesOf(anchor[min(fromAnchor, len(anchor)):]).P99
	ss.samples = append(ss.samples, smp)
	if ss.heapProfile != "" && smp.T >= ss.warmup.Seconds() {
		// The first sample after warm-up, and the last one while the
		// load still runs (each sample's overwrites the one before).
		if !ss.warmWritten {
			ss.warmWritten = true
			ss.writeHeap("warm")
		} else {
			ss.writeHeap("last")
		}
	}
}

// writeHeap writes a heap profile, live as of a collection made now, to
// heapProfile-name.pb.gz; compare two with go tool pprof -base.
func (ss *soakSampler) writeHeap(name string) {
	runtime.GC()
	f, err := os.Create(ss.heapProfile + "-" + name + ".pb.gz")
	if err == nil {
		err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
	}
	if err != nil {
		slog.Warn("soak: heap profile not written", "err", err)
	}
}

// stop ends the sampling and sums up its series.
func (ss *soakSampler) stop() *soak {
	ss.cancel()
	<-ss.done
	alert, anchor := ss.s.Latencies()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sk := &soak{EveryS: ss.every.Seconds(), Samples: ss.samples, WarmupS: ss.warmup.Seconds()}
	w := 0
	for w < len(ss.samples) && ss.samples[w].T < sk.WarmupS {
		w++
	}
	after := ss.samples[w:]
	series := []struct {
		name string
		v    func(soakSample) float64
	}{
		{"main process RSS", func(x soakSample) float64 { return x.Main.RSSMB }},
		{"main process Go heap (live)", func(x soakSample) float64 { return x.MainHeapMB }},
		{"main process Go runtime (held)", func(x soakSample) float64 { return x.MainGoMB }},
		{"main process Pebble stores (allocated)", func(x soakSample) float64 { return x.MainPebbleMB }},
		{"main process RSS outside Go", func(x soakSample) float64 { return x.Main.RSSMB - x.MainGoMB }},
		{"gateway process RSS", func(x soakSample) float64 { return x.Gateway.RSSMB }},
		{"gateway process anonymous RSS", func(x soakSample) float64 { return x.Gateway.AnonMB }},
	}
	slopes := func(samples []soakSample) []soakSlope {
		var out []soakSlope
		for _, se := range series {
			var xs, ys []float64
			for _, x := range samples {
				xs, ys = append(xs, x.T/3600), append(ys, se.v(x))
			}
			if sl, ok := rusage.Slope(xs, ys); ok && (ss.gwPid != 0 || !strings.HasPrefix(se.name, "gateway")) {
				out = append(out, soakSlope{se.name, sl})
			}
		}
		return out
	}
	sk.Slopes = slopes(after)
	sk.SlopesLastHalf = slopes(after[len(after)/2:])
	if len(after) >= 2 {
		mid := after[len(after)/2]
		a0, an0 := after[0].alertN, after[0].anchorN
		sk.AlertP99Ms = [2]float64{testbed.PercentilesOf(alert[a0:mid.alertN]).P99, testbed.PercentilesOf(alert[mid.alertN:]).P99}
		sk.AnchorP99Ms = [2]float64{testbed.PercentilesOf(anchor[an0:mid.anchorN]).P99, testbed.PercentilesOf(anchor[mid.anchorN:]).P99}
	}
	return sk
}

// plotSeries are the soak's series for its charts.
func (sk *soak) plotSeries() benchplot.SoakSeries {
	var out benchplot.SoakSeries
	if sk == nil {
		return out
	}
	out.WarmupMin = sk.WarmupS / 60
	for _, x := range sk.Samples {
		out.Minutes = append(out.Minutes, x.T/60)
		out.MainRSSMB = append(out.MainRSSMB, x.Main.RSSMB)
		out.MainHeapMB = append(out.MainHeapMB, x.MainHeapMB)
		out.GatewayRSSMB = append(out.GatewayRSSMB, x.Gateway.RSSMB)
		out.GatewayAnonMB = append(out.GatewayAnonMB, x.Gateway.AnonMB)
		out.MainFiles = append(out.MainFiles, float64(x.Main.OpenFiles))
		out.GatewayFiles = append(out.GatewayFiles, float64(x.Gateway.OpenFiles))
		out.AuthorityDiskMB = append(out.AuthorityDiskMB, x.DiskMB["authority"])
		out.CloudDiskMB = append(out.CloudDiskMB, x.DiskMB["cloud"])
		out.GatewayDiskMB = append(out.GatewayDiskMB, x.DiskMB["gateway"])
		out.CloudCompactedMB = append(out.CloudCompactedMB, float64(x.CloudStore.TableBytesCompacted)/(1<<20))
		out.AlertP99Ms = append(out.AlertP99Ms, x.AlertP99Ms)
		out.AnchorP99Ms = append(out.AnchorP99Ms, x.AnchorP99Ms)
	}
	return out
}

// benchE2EFields documents the fields of 'bench e2e --json'.
const benchE2EFields = `
JSON fields (--json; an array with several designs or --sweep): the run's summary as in
'vitalchain demo --json' (readings, readings_per_s, records_stored, alert_latency_ms,
anchor_latency_ms, chain_bytes, onchain_bytes_per_reading, transactions_per_reading,
invariants, …), and:
  target_readings_per_s, cloud_seal_interval_ms   the run's settings
  gateway_rss_mb, gateway_peak_rss_mb, gateway_rss_anon_mb   patient 0's gateway process
  browser_alert_latency_ms   reading → the alert on the first provider's portal's live stream
  baseline, baseline_txs, baseline_commit_latency_ms   (--baseline per-record, per-reading)
  cpu                 the run's CPU profile by part: wall_s, total_cpu_s, cpu_s_by_component
                      (authority, cloud, gateway, provider, wearables, bench, setup, and
                      unlabelled: the Go runtime's own work, shared in proportion below)
  cloud_store         the cloud's Pebble store during the run: synced_batches, wal_bytes,
                      table_bytes_flushed, table_bytes_compacted, compactions, disk_bytes
  units               the per-unit costs that 'vitalchain plan --units' reads:
    gateway_cpu_s_per_reading      CPU s of a gateway per reading (gateway_cpu_from: "process",
                                   patient 0's own process from /proc, or "profile")
    gateway_memory_mb_per_patient  a gateway's own memory (RssAnon), one patient
    cloud_cpu_s_per_record         the cloud's CPU s per record stored
    authority_cpu_s_per_tx         one authority's CPU s per transaction committed
    authority_cpu_s_per_reading    one authority's CPU s per reading (reads included)
    db_synced_batches_per_record, db_wal_bytes_per_record   the cloud store's writes
    records_per_reading, chain_bytes_per_reading, chain_bytes_per_block, txs_per_block
  soak                (--sample) sample_every_s, warmup_s, samples (t_s, readings, main and
                      gateway: rss_mb, rss_anon_mb, peak_rss_mb, open_files, cpu_s;
                      main_heap_live_mb, main_go_mb (held by Go's runtime), main_pebble_mb
                      (Pebble's memtables and caches, outside Go), disk_mb by part,
                      cloud_store, alert_p99_ms and anchor_p99_ms of the window),
                      memory_slopes (MB/hour after warm-up), memory_slopes_last_half,
                      alert_p99_ms_halves, anchor_p99_ms_halves (first and second half)
`
