package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The cache of connectors and credentials, with their secrets opened.
//
// Every authentication resolves its OAuth client: the connector, perhaps
// a credential, and their sealed secrets. They change rarely, so each node
// keeps what it read, tagged with the application's configuration version
// (store.Store.GetConfigVersion) read before it. Every change to an
// application's connectors and credentials grows that version in its own
// transaction, on whichever node (or grantd command) makes it; a cached
// entry is used only while the version is still the one it was read
// under, so a change shows on every node from the next request on. The
// version comes from the request's context when the API key check read
// it (store.WithConfigVersion: no read at all), else it is read (one
// integer by primary key). Entries expire after cacheTTL; there are at
// most maxCached.

const (
	cacheTTL  = time.Minute
	maxCached = 10000
)

type cached struct {
	version int64
	expires time.Time
	absent  bool // no such connector (connectors only: their names are a closed set)
	conn    store.Connector
	secrets map[string]string // the connector's opened secrets; read only
	cred    store.Credential
	data    map[string]any // the credential's opened data; read only
}

// cache is the Service's; its zero value is ready.
type cache struct {
	m   sync.Map // cacheKey → *cached
	len atomic.Int64
}

func cacheKey(kind, appID, name string) string { return kind + "\x00" + appID + "\x00" + name }

// version is appID's configuration version: the request's, else read.
func (s *Service) version(ctx context.Context, appID string) (int64, error) {
	if v, ok := store.ConfigVersionFrom(ctx, appID); ok {
		return v, nil
	}
	return s.Store.GetConfigVersion(ctx, appID)
}

// lookup returns the entry of key when it was read under version.
func (s *Service) lookup(key string, version int64) (*cached, bool) {
	v, ok := s.cache.m.Load(key)
	if !ok {
		return nil, false
	}
	e := v.(*cached)
	if e.version != version || !time.Now().Before(e.expires) {
		return nil, false
	}
	return e, true
}

func (s *Service) keep(key string, e *cached) {
	c := &s.cache
	if c.len.Load() >= maxCached {
		c.m.Range(func(k, _ any) bool {
			if _, ok := c.m.LoadAndDelete(k); ok {
				c.len.Add(-1)
			}
			return true
		})
	}
	e.expires = time.Now().Add(cacheTTL)
	if _, loaded := c.m.Swap(key, e); !loaded {
		c.len.Add(1)
	}
}

// dropCached forgets every entry of appID on this node (after a change
// made here: the request that made it must not see the copy of the
// version it started with).
func (s *Service) dropCached(appID string) {
	c := &s.cache
	c.m.Range(func(k, _ any) bool {
		if strings.Contains(k.(string), "\x00"+appID+"\x00") {
			if _, ok := c.m.LoadAndDelete(k); ok {
				c.len.Add(-1)
			}
		}
		return true
	})
}

// connector returns appID's connector of prov with its opened secrets
// (the maps are shared: read only). store.ErrNotFound when there is none.
func (s *Service) connector(ctx context.Context, appID, prov string) (store.Connector, map[string]string, error) {
	key := cacheKey("connector", appID, prov)
	ver, verr := s.version(ctx, appID)
	if verr == nil {
		if e, ok := s.lookup(key, ver); ok {
			if e.absent {
				return store.Connector{}, nil, fmt.Errorf("get connector: %w", store.ErrNotFound)
			}
			return e.conn, e.secrets, nil
		}
	}
	// Read after the version: what is read is at least that version's.
	c, err := s.Store.GetConnector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) && verr == nil && s.Providers.Has(prov) {
		s.keep(key, &cached{version: ver, absent: true})
	}
	if err != nil {
		return c, nil, err
	}
	secrets, err := s.openSecrets(c)
	if err != nil {
		return c, nil, err
	}
	if verr == nil {
		s.keep(key, &cached{version: ver, conn: c, secrets: secrets})
	}
	return c, secrets, nil
}

// credential returns appID's credential id with its opened data (the map
// is shared: read only). store.ErrNotFound when there is none.
func (s *Service) credential(ctx context.Context, appID, id string) (store.Credential, map[string]any, error) {
	key := cacheKey("credential", appID, id)
	ver, verr := s.version(ctx, appID)
	if verr == nil {
		if e, ok := s.lookup(key, ver); ok {
			return e.cred, e.data, nil
		}
	}
	c, err := s.Store.GetCredential(ctx, appID, id)
	if err != nil {
		return c, nil, err
	}
	data, err := s.openData(c)
	if err != nil {
		return c, nil, err
	}
	if verr == nil {
		s.keep(key, &cached{version: ver, cred: c, data: data})
	}
	return c, data, nil
}
