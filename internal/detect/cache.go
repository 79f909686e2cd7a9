package detect

import (
	"container/list"
	"sync"
	"time"
)

// cache is a size-bounded LRU of discovery findings, each with its own
// expiry. Safe for concurrent use.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[string]*list.Element
}

type cacheItem struct {
	key     string
	val     *finding
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

// get returns the unexpired finding of key.
func (c *cache) get(key string, now time.Time) (*finding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*cacheItem)
	if !now.Before(it.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return it.val, true
}

// put stores f until expires, evicting the least recently used item when
// the cache is full.
func (c *cache) put(key string, f *finding, expires time.Time) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		it := el.Value.(*cacheItem)
		it.val, it.expires = f, expires
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheItem).key)
	}
	c.items[key] = c.ll.PushFront(&cacheItem{key: key, val: f, expires: expires})
}

// len returns the number of items held (expired ones included).
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
