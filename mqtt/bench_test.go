package mqtt

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkPublishToBroker measures messages per second from devices'
// Client.Publish (QoS 1, waiting for each PUBACK) to an in-process
// Broker.Subscribe handler, over loopback TCP, with reading-sized payloads.
func BenchmarkPublishToBroker(b *testing.B) {
	for _, publishers := range []int{1, 16} {
		b.Run(fmt.Sprint("publishers=", publishers), func(b *testing.B) {
			br := startBroker(b, BrokerConfig{})
			patient := testID(1)
			var got atomic.Int64
			if err := br.Subscribe(ReadingsFilter(patient), func(string, []byte) { got.Add(1) }); err != nil {
				b.Fatal(err)
			}
			clients := make([]*Client, publishers)
			for i := range clients {
				clients[i] = connect(b, ClientConfig{Broker: br.URL(), ClientID: fmt.Sprint("device-", i)})
			}
			payload := make([]byte, 216) // a signed reading's size
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, c := range clients {
				n := b.N / publishers
				if i < b.N%publishers {
					n++
				}
				topic := ReadingsTopic(patient, testID(byte(i)))
				wg.Go(func() {
					for range n {
						if err := c.Publish(context.Background(), topic, payload); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if got.Load() != int64(b.N) {
				b.Fatalf("handler got %d of %d messages", got.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
