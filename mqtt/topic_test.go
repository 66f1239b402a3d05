package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func testID(b byte) identity.ID {
	var id identity.ID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func TestTopics(t *testing.T) {
	p, d := testID(0x10), testID(0xa0)
	ph, dh := p.Hex(), d.Hex()
	if got, want := ReadingsTopic(p, d), "vitalchain/"+ph+"/readings/"+dh; got != want {
		t.Errorf("ReadingsTopic = %q, want %q", got, want)
	}
	if got, want := CommandsTopic(p, d), "vitalchain/"+ph+"/commands/"+dh; got != want {
		t.Errorf("CommandsTopic = %q, want %q", got, want)
	}
	if got, want := ReadingsFilter(p), "vitalchain/"+ph+"/readings/+"; got != want {
		t.Errorf("ReadingsFilter = %q, want %q", got, want)
	}
}

func TestParseTopic(t *testing.T) {
	p, d := testID(0x10), testID(0xa0)
	ph, dh := p.Hex(), d.Hex()
	tests := []struct {
		name, topic, kind string
		ok                bool
	}{
		{"readings", ReadingsTopic(p, d), KindReadings, true},
		{"commands", CommandsTopic(p, d), KindCommands, true},
		{"empty", "", "", false},
		{"filter", ReadingsFilter(p), "", false},
		{"other root", "vitalcha1n/" + ph + "/readings/" + dh, "", false},
		{"other kind", "vitalchain/" + ph + "/readingz/" + dh, "", false},
		{"uppercase patient", "vitalchain/" + strings.ToUpper(ph) + "/readings/" + dh, "", false},
		{"uppercase device", "vitalchain/" + ph + "/readings/" + strings.ToUpper(dh), "", false},
		{"not hex", "vitalchain/" + ph + "/readings/" + dh[:63] + "g", "", false},
		{"short id", "vitalchain/" + ph + "/readings/" + dh[:62], "", false},
		{"long id", "vitalchain/" + ph + "/readings/" + dh + "00", "", false},
		{"shifted slash", "vitalchain/" + ph + "0/readings" + "/" + dh[1:], "", false},
		{"five levels", "vitalchain/" + ph[:31] + "/" + ph[32:] + "/readings/" + dh, "", false},
		{"trailing slash", ReadingsTopic(p, d) + "/", "", false},
		{"leading slash", "/" + ReadingsTopic(p, d)[1:], "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gp, gd, kind, err := ParseTopic(tt.topic)
			if !tt.ok {
				if !errors.Is(err, ErrBadTopic) {
					t.Fatalf("ParseTopic(%q) error = %v, want ErrBadTopic", tt.topic, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTopic(%q): %v", tt.topic, err)
			}
			if gp != p || gd != d || kind != tt.kind {
				t.Errorf("ParseTopic = %s, %s, %q; want %s, %s, %q", gp, gd, kind, p, d, tt.kind)
			}
		})
	}
}

func TestCheckTopicName(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"a/b", true},
		{ReadingsTopic(testID(1), testID(2)), true},
		{"", false},
		{"a/+/b", false},
		{"a/#", false},
		{"a\x00b", false},
		{"a\xffb", false},
		{strings.Repeat("a", 65536), false},
	}
	for _, tt := range tests {
		err := checkTopicName(tt.topic)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadTopic)) {
			t.Errorf("checkTopicName(%.20q) = %v, want ok %v", tt.topic, err, tt.ok)
		}
	}
}

func FuzzParseTopic(f *testing.F) {
	p, d := testID(0x10), testID(0xa0)
	f.Add(ReadingsTopic(p, d))
	f.Add(CommandsTopic(p, d))
	f.Add(ReadingsFilter(p))
	f.Add("vitalchain/" + strings.ToUpper(p.Hex()) + "/readings/" + d.Hex())
	f.Add("")
	f.Fuzz(func(t *testing.T, topic string) {
		gp, gd, kind, err := ParseTopic(topic)
		if err != nil {
			if !errors.Is(err, ErrBadTopic) {
				t.Fatalf("error %v does not wrap ErrBadTopic", err)
			}
			return
		}
		// One topic per (patient, kind, device): what parses is what the
		// constructors produce, byte for byte.
		var again string
		switch kind {
		case KindReadings:
			again = ReadingsTopic(gp, gd)
		case KindCommands:
			again = CommandsTopic(gp, gd)
		default:
			t.Fatalf("kind %q", kind)
		}
		if again != topic {
			t.Fatalf("ParseTopic(%q) rebuilds as %q", topic, again)
		}
		if err := checkTopicName(topic); err != nil {
			t.Fatalf("parsed topic is not a valid topic name: %v", err)
		}
	})
}
