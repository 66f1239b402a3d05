package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/vitalchain/vitalchain/outbox"
)

// printCloud stands for the cloud: it stores every record but refuses the
// ones that say "bad".
type printCloud struct{}

func (printCloud) Send(_ context.Context, recs [][]byte) ([]outbox.Result, error) {
	res := make([]outbox.Result, len(recs))
	for i, r := range recs {
		if string(r) == "bad" {
			res[i] = outbox.Result{Permanent: true, Reason: "malformed"}
			continue
		}
		fmt.Printf("cloud stored %q\n", r)
		res[i] = outbox.Result{Stored: true}
	}
	return res, nil
}

func Example() {
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	o, err := outbox.Open(dir, outbox.Options{MaxItems: 1000})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()

	// The gateway puts each sealed record; Put returns once it is durable.
	for i, rec := range []string{"record 1", "bad", "record 2"} {
		if err := o.Put(outbox.Item{ID: [32]byte{byte(i + 1)}, Data: []byte(rec)}); err != nil {
			log.Fatal(err) // errors.Is(err, outbox.ErrFull): apply backpressure
		}
	}
	fmt.Println("pending:", o.Len())

	u := outbox.NewUploader(o, printCloud{}, outbox.UploaderOptions{
		OnDrop: func(it outbox.Item, r outbox.Result) { fmt.Printf("dropped %q: %s\n", it.Data, r.Reason) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()

	flushCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := u.Flush(flushCtx); err != nil {
		log.Fatal(err)
	}
	cancel()
	<-done
	fmt.Println("pending:", o.Len())
	// Output:
	// pending: 3
	// cloud stored "record 1"
	// cloud stored "record 2"
	// dropped "bad": malformed
	// pending: 0
}

// A full outbox refuses a Put whole, so that the gateway can slow down and
// count it.
func ExampleOutbox_Put() {
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	o, err := outbox.Open(dir, outbox.Options{MaxItems: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()

	a := outbox.Item{ID: [32]byte{1}, Data: []byte("a")}
	b := outbox.Item{ID: [32]byte{2}, Data: []byte("b")}
	c := outbox.Item{ID: [32]byte{3}, Data: []byte("c")}
	fmt.Println(o.Put(a, a, b)) // a is stored once
	err = o.Put(c)
	fmt.Println(errors.Is(err, outbox.ErrFull), o.Len())
	fmt.Println(o.Ack(a.ID), o.Put(c))
	items, _ := o.Peek(10)
	for _, it := range items {
		fmt.Printf("%s ", it.Data)
	}
	fmt.Println()
	// Output:
	// <nil>
	// true 2
	// <nil> <nil>
	// b c
}
