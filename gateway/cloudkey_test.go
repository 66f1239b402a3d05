package gateway_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/outbox"
)

// clusterCounter counts the ledger queries of cluster listings, which the
// gateway makes only to prove its cloud (gateway.cloudKey).
type clusterCounter struct {
	*memchain.Chain
	n atomic.Int64
}

func (c *clusterCounter) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	if strings.HasPrefix(path, ledger.QueryCluster+"/") {
		c.n.Add(1)
	}
	return c.Chain.Query(ctx, path)
}

// The gateway proves its cloud's key on the ledger once per ten seconds,
// not once per upload (three proved queries, each waiting for a block, on
// every alert's path), and again once that time has passed.
func TestCloudKeyProvedOncePerInterval(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	counter := &clusterCounter{Chain: w.chain}
	cl := client.New(counter, nil)
	defer cl.Close()
	var mu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	g, err := gateway.New(ctx, gateway.Config{Patient: w.patient, Chain: cl, Cloud: w.cloud, Dir: t.TempDir(), Now: now,
		Uploader: outbox.UploaderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	upload := func() {
		t.Helper()
		if err := g.HandleReading(ctx, w.reading(250)); err != nil {
			t.Fatal(err)
		}
		if err := g.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before := counter.n.Load()
	for range 3 {
		upload()
	}
	if n := counter.n.Load() - before; n != 1 {
		t.Fatalf("3 uploads within the interval asked for the home cluster %d times, want 1", n)
	}
	mu.Lock()
	skew = 11 * time.Second
	mu.Unlock()
	upload()
	if n := counter.n.Load() - before; n != 2 {
		t.Fatalf("an upload past the interval: %d cluster queries in all, want 2 (proved again)", n)
	}
	if st := g.Stats(); st.Upload.Stored != 4 {
		t.Fatalf("stats %+v: want 4 records stored", st)
	}
}
