// Package fhirapi is a provider's FHIR R4 REST API, served by `vitalchain
// provider serve --fhir` under Prefix (/fhir) beside the portal. Records
// are read, decrypted and verified in the provider's own process, with
// the provider's key (provider.Fetch); the cloud never sees them in clear.
//
// # What is served
//
// For the patients whose grant to the provider is in force (and whom the
// provider knows, from their alerts):
//
//   - Patient: the patient's pseudonym on the ledger (its ID in hex).
//   - Device: the patient's gateway, as a PhgDevice of the HL7 Personal
//     Health Device IG (MDC_MOC_VMS_MDS_AHD; the IEEE EUI-64 is a stand-in
//     derived from the patient's ID, as the gateway has none), and the
//     wearables that signed the readings, with the vital signs they measure.
//   - Observation: each alert's reading, as package fhir renders it (LOINC,
//     UCUM, blood pressure as a panel): read, search by patient, code,
//     date and category, and $lastn (the newest max per code and patient).
//   - Provenance (id: the record's ID): the device's COSE_Sign1 signature
//     over the reading, the record, and its Merkle inclusion proof into the
//     cloud's checkpoint with the block that anchored it (extension
//     ProofExtension), with a link to the portal's raw proof; `vitalchain
//     provider fetch RECORD_ID` verifies the same proof from the ledger.
//   - Consent (id: the patient's): the patient's grant to this provider,
//     read from the ledger.
//   - AuditEvent: this API's own access log (every request, allowed or
//     not), kept in Dir. The patients' access logs in the cloud are only
//     readable with the patient's key, so they are not served here.
//   - Subscription: topic-based subscriptions of the R5 backport for R4 to
//     the topic TopicURL (an alert), rest-hook only, payload id-only (the
//     Observation and Provenance IDs, never the values) or empty, filter
//     "Observation?patient=…". Notifications go through the portal's
//     webhook outbox (package webhook): durable, signed as Standard
//     Webhooks with the secret the creation returns once (SecretHeader),
//     retried, kept across restarts and never sent twice under two IDs;
//     $status tells a subscription's count of events. A subscription whose
//     client holds no token in force any more is not notified.
//   - Bulk $export (system and Patient level) as NDJSON, asynchronously
//     (kick-off, status, files), as FHIR Bulk Data Access 2.0 describes.
//   - /metadata: the CapabilityStatement, made from the route table.
//
// # Access
//
// Every request but /metadata needs a bearer token issued by the
// provider's process (Tokens.Issue, `vitalchain provider token`), stored
// hashed (SHA-256) in Dir, with SMART on FHIR scopes in v2 syntax
// (patient/Observation.rs, patient/*.rs, user/*.rs; v1 .read accepted):
// "r" reads, "s" searches, "c" and "d" create and delete Subscriptions.
// The context (patient, user, system) is not told apart, except that a
// token issued for a patient sees that patient only. A missing or unknown
// token answers 401, a scope too narrow 403, a patient whose grant is not
// in force (revoked, expired) 403, each with an OperationOutcome; the grant
// is asked of the ledger again after GrantTTL (2 s) at most. Every request
// lands in the access log, synced to disk, before its answer is sent.
//
// # Limits
//
// Searches: parameters not listed in the CapabilityStatement are refused
// (400), as with "Prefer: handling=strict"; no paging (_count, at most
// MaxCount, cuts the searchset; total tells how many matched); no _include,
// no modifiers. Records: the MaxRecordsPerPatient newest alerts per
// patient. The server knows a patient from the patient's alerts only.
package fhirapi
