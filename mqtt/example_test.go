package mqtt_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/mqtt"
)

// A gateway runs its own broker and receives its patient's readings
// in-process; a device connects over TCP and publishes one.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	broker, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()

	patient, device := identity.ID{1}, identity.ID{2}
	got := make(chan string, 1)
	err = broker.Subscribe(mqtt.ReadingsFilter(patient), func(topic string, payload []byte) {
		_, dev, kind, err := mqtt.ParseTopic(topic)
		if err != nil {
			return // not a VitalChain topic: count and drop
		}
		got <- fmt.Sprintf("%s from device %s: %s", kind, dev, payload)
	})
	if err != nil {
		log.Fatal(err)
	}

	wearable, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: broker.URL(), ClientID: device.Hex()})
	if err != nil {
		log.Fatal(err)
	}
	defer wearable.Close()
	if err := wearable.Publish(ctx, mqtt.ReadingsTopic(patient, device), []byte("a signed reading")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	fmt.Println("received:", broker.Stats().Received)
	// Output:
	// readings from device 0200000000000000: a signed reading
	// received: 1
}

func ExampleParseTopic() {
	patient, device := identity.ID{1}, identity.ID{2}
	p, d, kind, err := mqtt.ParseTopic(mqtt.CommandsTopic(patient, device))
	fmt.Println(p == patient, d == device, kind, err)

	_, _, _, err = mqtt.ParseTopic("vitalchain/status")
	fmt.Println(err)
	// Output:
	// true true commands <nil>
	// mqtt: bad topic: 17 bytes, want 149
}
