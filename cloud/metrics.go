package cloud

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cloud's Prometheus metrics.
type metrics struct {
	accepted      prometheus.Counter
	duplicates    prometheus.Counter
	refused       *prometheus.CounterVec
	reads         prometheus.Counter
	readsRefused  *prometheus.CounterVec
	blocks        *prometheus.CounterVec
	anchors       *prometheus.CounterVec
	anchorErrors  *prometheus.CounterVec
	anchorLag     *prometheus.GaugeVec
	logSize       *prometheus.GaugeVec
	commitBatches prometheus.Histogram
	alertsServed  prometheus.Counter
	connsRefused  prometheus.Counter
	httpRefused   *prometheus.CounterVec
	sequencer     prometheus.Gauge
	terms         prometheus.Counter
	erasures      *prometheus.CounterVec
	alertChanges  *prometheus.CounterVec
	heartbeats    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_records_accepted_total", Help: "Records durably stored."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_records_duplicate_total", Help: "Uploads of records already stored (acknowledged again)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_records_refused_total", Help: "Records refused, by reason."}, []string{"reason"}),
		reads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_reads_total", Help: "Records served."}),
		readsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_reads_refused_total", Help: "Read requests refused, by reason."}, []string{"reason"}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_blocks_sealed_total", Help: "Blocks sealed (checkpoints submitted), by log."}, []string{"log"}),
		anchors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_anchors_committed_total", Help: "Anchors committed on the ledger, by log."}, []string{"log"}),
		anchorErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_anchor_errors_total", Help: "Anchors that failed and will be retried, by log."}, []string{"log"}),
		anchorLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vitalchain_cloud_anchor_lag_records", Help: "Entries stored but not yet anchored, by log."}, []string{"log"}),
		logSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vitalchain_cloud_log_size", Help: "Entries in each log."}, []string{"log"}),
		commitBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vitalchain_cloud_commit_batch_records", Help: "Records per durable commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		alertsServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_alerts_served_total", Help: "Alerts pushed to providers."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_connections_refused_total", Help: "Connections closed at once, over Limits.MaxConns."}),
		httpRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_http_refused_total", Help: "Requests refused by the server's limits, by reason (busy, rate_limited)."}, []string{"reason"}),
		sequencer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vitalchain_cloud_sequencer", Help: "1 while this process sequences (holds the lease), 0 while it follows."}),
		terms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vitalchain_cloud_sequencer_terms_total", Help: "Terms this process began as the sequencer."}),
		erasures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_erasures_total", Help: "Erasure requests, by outcome: erased, or the refusal's code."}, []string{"outcome"}),
		alertChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_alert_changes_total", Help: "Changes of alerts' states, by outcome: the operation applied (ack, resolve, snooze, escalate, no_data, no_data_gateway), or the refusal's code."}, []string{"outcome"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitalchain_cloud_heartbeats_total", Help: "Gateways' heartbeats, by outcome: ok, or the refusal's code."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.duplicates, m.refused, m.reads, m.readsRefused, m.blocks,
			m.anchors, m.anchorErrors, m.anchorLag, m.logSize, m.commitBatches, m.alertsServed, m.connsRefused, m.httpRefused,
			m.sequencer, m.terms, m.erasures, m.alertChanges, m.heartbeats)
	}
	return m
}

func logName(l uint8) string {
	if l == LogAccess {
		return "access"
	}
	return "records"
}
