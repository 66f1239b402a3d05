// Package spancache remembers the span contexts of recent work by key,
// bounded, so that a later span can link to the spans of what it handles
// (the gateway's upload to the seals of its records, the cloud's anchor
// to the ingests of its block) when tracing is on.
package spancache

import (
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Cache holds at most its capacity of span contexts, forgetting the
// oldest. Its methods are safe for concurrent use.
type Cache[K comparable] struct {
	mu    sync.Mutex
	cap   int
	m     map[K]trace.SpanContext
	order []K
	next  int
}

// New returns a cache of capacity n.
func New[K comparable](n int) *Cache[K] {
	return &Cache[K]{cap: n, m: map[K]trace.SpanContext{}} // grown as used: most processes never trace
}

// Put remembers sc under k (nothing if sc is not valid: tracing off).
func (c *Cache[K]) Put(k K, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		c.m[k] = sc
		return
	}
	if len(c.order) < c.cap {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % c.cap
	}
	c.m[k] = sc
}

// Links returns a link to the span context of each key remembered, once
// each.
func (c *Cache[K]) Links(keys ...K) []trace.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []trace.Link
	seen := map[trace.SpanID]bool{}
	for _, k := range keys {
		if sc, ok := c.m[k]; ok && !seen[sc.SpanID()] {
			seen[sc.SpanID()] = true
			out = append(out, trace.Link{SpanContext: sc})
		}
	}
	return out
}
