// Package portal serves VitalChain's web portals from our own binaries:
// server-rendered HTML (html/template), htmx with server-sent events for
// live updates, and uPlot for charts, all embedded (go:embed) and served
// from the portal itself: no Node build, no CDN, no inline script.
//
// The provider portal (ProviderPortal) shows one provider's triage list:
// the patients whose grant to the provider is in force, open alerts first
// (the most severe, then the oldest), then the most recent records, with
// "no data since…" for a patient gone quiet. It updates live. Each alert
// opens its record, decrypted and verified in the portal's process with
// the provider's key, and a proof badge: the record's inclusion into the
// cloud's checkpoint and the block that anchored it, with the raw proof. A
// patient page charts each vital sign, sends the patient a record
// (transaction 3), changes a device's sampling rate on the ledger, and
// exports FHIR R4. An alert is raised, acknowledged (by whom) and
// resolved, or snoozed; with ProviderConfig.Lifecycle these are signed
// changes kept by the cloud (package lifecycle), which every provider of
// the contract, the patient's portal and the command line read, and the
// triage list shows the no-data alerts and escalations too.
//
// Access. The portal prints a one-time login link where it starts (as
// Jupyter does); following it opens a session held in an HTTP-only,
// same-site cookie (Secure and __Host- prefixed over TLS). Every form and
// script request carries the session's CSRF token, and a request from
// another origin is refused. A patient whose grant is not in force is
// neither listed nor shown: the portal asks the ledger again after
// GrantTTL.
//
// Limits: MaxStreams live connections, forms of 64 KiB, a patient page
// charts the MaxChartRecords newest records, the triage list keeps 512
// alerts per patient and 16,384 patients.
//
// The vendored scripts and their licences are in static/vendor, pinned by
// static/vendor/SHA256SUMS, which a test checks; static/vendor/update.sh
// fetches them again from the npm registry.
package portal
