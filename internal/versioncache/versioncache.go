// Package versioncache is a node-local cache of what was read from the
// store under an application's configuration version
// (store.Store.GetConfigVersion): API keys with their application
// (tenant), connectors and credentials with their opened secrets
// (connector).
//
// Every change to an application's keys, settings, connectors or
// credentials grows its version in the same transaction, on whichever node
// (or grantd command) makes it. An entry is used only while the version a
// request reads is still the one the entry was read under, so a change
// shows on every node from its next request on. Entries also expire after
// a time to live, and a cache holds a bounded number of them: when full,
// it is emptied (the entries in use come back at their next request)
// rather than tracking an order.
package versioncache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Entries live TTL, and a cache holds at most Max.
const (
	TTL = time.Minute
	Max = 10000
)

// Cache maps keys to values of type V read under a version. Its zero
// value is ready. Its methods are safe for concurrent use; the values are
// shared between callers and must be treated as read only.
type Cache[V any] struct {
	now func() time.Time // time.Now when nil (tests set it)

	m sync.Map // string → *entry[V]
	n atomic.Int64
}

type entry[V any] struct {
	version int64
	expires time.Time
	val     V
}

func (c *Cache[V]) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Get returns the value of key when it was read under version and has not
// expired.
func (c *Cache[V]) Get(key string, version int64) (V, bool) {
	v, ver, ok := c.Peek(key)
	if !ok || ver != version {
		var zero V
		return zero, false
	}
	return v, true
}

// Peek returns the value of key that has not expired, with the version it
// was read under, for a caller that learns which version to check only
// from the value (an API key names its application).
func (c *Cache[V]) Peek(key string) (V, int64, bool) {
	var zero V
	v, ok := c.m.Load(key)
	if !ok {
		return zero, 0, false
	}
	e := v.(*entry[V])
	if !c.clock().Before(e.expires) {
		return zero, 0, false
	}
	return e.val, e.version, true
}

// Put keeps val as key's value, read under version.
func (c *Cache[V]) Put(key string, version int64, val V) {
	if c.n.Load() >= Max {
		c.DeleteFunc(func(string) bool { return true })
	}
	e := &entry[V]{version: version, expires: c.clock().Add(TTL), val: val}
	if _, loaded := c.m.Swap(key, e); !loaded {
		c.n.Add(1)
	}
}

// Delete forgets key.
func (c *Cache[V]) Delete(key string) {
	if _, ok := c.m.LoadAndDelete(key); ok {
		c.n.Add(-1)
	}
}

// DeleteFunc forgets every key for which del returns true.
func (c *Cache[V]) DeleteFunc(del func(key string) bool) {
	c.m.Range(func(k, _ any) bool {
		if del(k.(string)) {
			c.Delete(k.(string))
		}
		return true
	})
}

// size is the number of entries held (expired ones included until they
// are replaced or the cache is emptied).
func (c *Cache[V]) size() int { return int(c.n.Load()) }
