package gateway

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// WriteMetrics writes the gateway's counters in Prometheus's text format
// (what /metrics serves). It is written by hand: the gateway's binary runs
// on small hardware and links no metrics library for a dozen counters.
func (g *Gateway) WriteMetrics(w io.Writer) error {
	st := g.Stats()
	var b strings.Builder
	metric := func(name, typ, help string, v uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	metric("vitalchain_gateway_readings_total", "counter", "Readings verified and taken.", st.Readings)
	metric("vitalchain_gateway_readings_abnormal_total", "counter", "Readings some contract found abnormal.", st.Abnormal)
	metric("vitalchain_gateway_alerts_total", "counter", "Abnormal readings past their rule's cool-down.", st.Alerts)
	metric("vitalchain_gateway_records_sealed_total", "counter", "Records sealed into the outbox.", st.Sealed)
	metric("vitalchain_gateway_records_stored_total", "counter", "Records the cloud acknowledged.", st.Upload.Stored)
	metric("vitalchain_gateway_records_proven_total", "counter", "Records proven in an anchored checkpoint and let go.", st.Proven)
	metric("vitalchain_gateway_receipt_alarms_total", "counter", "Cloud receipts not honoured by their deadline.", st.ReceiptAlarms)
	metric("vitalchain_gateway_records_pending", "gauge", "Records in the outbox, to upload.", uint64(st.Pending))
	metric("vitalchain_gateway_records_held", "gauge", "Records receipted, awaiting their proof.", uint64(st.Held))
	metric("vitalchain_gateway_commands_relayed_total", "counter", "Device commands relayed.", st.Commands)
	metric("vitalchain_gateway_commands_refused_total", "counter", "Device commands not relayed.", st.CmdRefuse)
	const refused = "vitalchain_gateway_readings_refused_total"
	fmt.Fprintf(&b, "# HELP %s Readings refused, by reason.\n# TYPE %s counter\n", refused, refused)
	for _, r := range slices.Sorted(maps.Keys(st.Refused)) {
		fmt.Fprintf(&b, "%s{reason=%q} %d\n", refused, r, st.Refused[r])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
