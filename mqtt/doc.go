// Package mqtt is the transport between wearables and their patient's
// gateway: MQTT topics named by patient and device, an embedded broker, and
// a reconnecting client.
//
// A wearable publishes each signed reading (package reading) at QoS 1 to
// ReadingsTopic(patient, device); the gateway subscribes to
// ReadingsFilter(patient) and publishes device commands to
// CommandsTopic(patient, device). docs/device-protocol.md describes the wire
// protocol for device builders.
//
// The gateway either runs its own Broker (StartBroker, the default) and
// subscribes in-process with Broker.Subscribe, without a TCP hop, or
// connects to an external broker (Mosquitto, EMQX) with Connect. Either way a
// Handler sees each message at least once: a QoS 1 message is acknowledged
// only after its Handler returns, so a message whose Handler did not return
// (crash, lost connection) is delivered again, and Handlers must be
// idempotent (the gateway refuses a reading whose sequence number it has
// already accepted).
//
// The broker authenticates no one: a reading's authenticity comes from its
// device's signature, checked by the gateway, not from the transport. It
// bounds what an anonymous client can cost: packets over MaxPacketSize are
// refused (the connection is closed), each offline session keeps at most
// MaxInflight QoS 1 messages for at most SessionExpiry (mochi-mqtt issue
// #340: without these bounds the in-flight queue of an offline persistent
// session grows without limit), and retained messages are disabled, since a
// retained reading would be replayed to every new subscriber.
//
// Messages from one publisher on one topic arrive in order, with one
// exception in the embedded broker (mochi-mqtt v2.7.9): when a client
// reconnects to a persistent session, the messages queued for it are resent
// sorted by the second they were published in, modulo 65,536, and in any
// order within a second. The gateway should therefore receive readings
// in-process (Broker.Subscribe, which has no queue), and devices should keep
// one reading in flight at a time, so that no reading overtakes an earlier
// one and is refused as a replay. The embedded broker also keeps a client's inbound
// and outbound packet identifiers in one map (mochi-mqtt issues #519,
// #545): a client's QoS 1 PUBLISH can erase an unacknowledged delivery to
// it that has the same identifier, which is then not resent if the client
// reconnects before acknowledging it. Only clients that both publish and
// subscribe (devices, for commands) are exposed.
//
// Nothing here logs payloads: the broker's own log lines are passed through
// a filter that replaces packets by their type, topic and size.
package mqtt
