package mqtt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vitalchain/vitalchain/identity"
)

// Topic kinds, the third level of a VitalChain topic.
const (
	KindReadings = "readings" // device to gateway: signed readings
	KindCommands = "commands" // gateway to device: signed commands
)

// topicRoot is the first level of every VitalChain topic.
const topicRoot = "vitalchain"

// ErrBadTopic: a topic is not a VitalChain topic (ParseTopic), or not a
// valid MQTT topic name to publish to (wildcards, empty, too long).
var ErrBadTopic = errors.New("bad topic")

// hexLen is the length of an identity.ID in hex.
const hexLen = 2 * len(identity.ID{})

// ReadingsTopic is the topic a device publishes its readings to:
// "vitalchain/<patient hex>/readings/<device hex>", IDs in full lowercase hex.
func ReadingsTopic(patient, device identity.ID) string {
	return topic(patient, KindReadings, device)
}

// CommandsTopic is the topic a device subscribes to for its commands:
// "vitalchain/<patient hex>/commands/<device hex>".
func CommandsTopic(patient, device identity.ID) string {
	return topic(patient, KindCommands, device)
}

// ReadingsFilter is the filter that matches the readings of all of patient's
// devices: "vitalchain/<patient hex>/readings/+".
func ReadingsFilter(patient identity.ID) string {
	return topicRoot + "/" + patient.Hex() + "/" + KindReadings + "/+"
}

func topic(patient identity.ID, kind string, device identity.ID) string {
	return topicRoot + "/" + patient.Hex() + "/" + kind + "/" + device.Hex()
}

// ParseTopic splits a VitalChain topic into its patient, device and kind
// (KindReadings or KindCommands). It accepts exactly the topics that
// ReadingsTopic and CommandsTopic produce, so IDs must be lowercase hex;
// anything else is an error wrapping ErrBadTopic.
func ParseTopic(topic string) (patient, device identity.ID, kind string, err error) {
	const size = len(topicRoot) + 1 + hexLen + 1 + len(KindReadings) + 1 + hexLen // both kinds have 8 letters
	if len(topic) != size {
		return patient, device, "", fmt.Errorf("mqtt: %w: %d bytes, want %d", ErrBadTopic, len(topic), size)
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 4 {
		return patient, device, "", fmt.Errorf("mqtt: %w: %d levels, want 4", ErrBadTopic, len(parts))
	}
	if parts[0] != topicRoot {
		return patient, device, "", fmt.Errorf("mqtt: %w: root %q, want %q", ErrBadTopic, parts[0], topicRoot)
	}
	switch parts[2] {
	case KindReadings, KindCommands:
		kind = parts[2]
	default:
		return patient, device, "", fmt.Errorf("mqtt: %w: kind %q", ErrBadTopic, parts[2])
	}
	if err := parseID(parts[1], &patient); err != nil {
		return patient, device, "", fmt.Errorf("mqtt: %w: patient: %w", ErrBadTopic, err)
	}
	if err := parseID(parts[3], &device); err != nil {
		return patient, device, "", fmt.Errorf("mqtt: %w: device: %w", ErrBadTopic, err)
	}
	return patient, device, kind, nil
}

// parseID decodes a full lowercase hex ID into id.
func parseID(s string, id *identity.ID) error {
	if len(s) != hexLen {
		return fmt.Errorf("id of %d hex digits, want %d", len(s), hexLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("id not lowercase hex at offset %d", i)
		}
	}
	_, err := hex.Decode(id[:], []byte(s))
	return err
}

// checkTopicName checks that topic is a valid MQTT topic name to publish to
// (MQTT 5 section 4.7): not empty, at most 65,535 bytes of UTF-8 without
// NUL, and no wildcards.
func checkTopicName(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("mqtt: %w: empty", ErrBadTopic)
	case len(topic) > 65535:
		return fmt.Errorf("mqtt: %w: %d bytes, limit 65535", ErrBadTopic, len(topic))
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("mqtt: %w: wildcard in a topic name", ErrBadTopic)
	case strings.ContainsRune(topic, 0) || !utf8.ValidString(topic):
		return fmt.Errorf("mqtt: %w: not valid utf-8 without nul", ErrBadTopic)
	}
	return nil
}
