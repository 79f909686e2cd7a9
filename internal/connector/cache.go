package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// The cache of connectors and credentials, with their secrets opened.
//
// Every authentication resolves its OAuth client: the connector, perhaps
// a credential, and their sealed secrets. They change rarely, so each node
// keeps what it read under the application's configuration version
// (internal/versioncache says how a change shows on every node). The
// version comes from the request's context when the API key check read
// it (store.WithConfigVersion: no read at all), else it is read (one
// integer by primary key).

type cached struct {
	absent  bool // no such connector (connectors only: their names are a closed set)
	conn    store.Connector
	secrets map[string]string // the connector's opened secrets; read only
	cred    store.Credential
	data    map[string]any // the credential's opened data; read only
}

func cacheKey(kind, appID, name string) string { return kind + "\x00" + appID + "\x00" + name }

// version is appID's configuration version: the request's, else read.
func (s *Service) version(ctx context.Context, appID string) (int64, error) {
	if v, ok := store.ConfigVersionFrom(ctx, appID); ok {
		return v, nil
	}
	return s.Store.GetConfigVersion(ctx, appID)
}

// dropCached forgets every entry of appID on this node (after a change
// made here: the request that made it must not see the copy of the
// version it started with).
func (s *Service) dropCached(appID string) {
	s.cache.DeleteFunc(func(k string) bool { return strings.Contains(k, "\x00"+appID+"\x00") })
}

// connector returns appID's connector of prov with its opened secrets
// (the maps are shared: read only). store.ErrNotFound when there is none.
func (s *Service) connector(ctx context.Context, appID, prov string) (store.Connector, map[string]string, error) {
	key := cacheKey("connector", appID, prov)
	ver, verr := s.version(ctx, appID)
	if verr == nil {
		if e, ok := s.cache.Get(key, ver); ok {
			if e.absent {
				return store.Connector{}, nil, fmt.Errorf("get connector: %w", store.ErrNotFound)
			}
			return e.conn, e.secrets, nil
		}
	}
	// Read after the version: what is read is at least that version's.
	c, err := s.Store.GetConnector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) && verr == nil && s.Providers.Has(prov) {
		s.cache.Put(key, ver, cached{absent: true})
	}
	if err != nil {
		return c, nil, err
	}
	secrets, err := s.openSecrets(c)
	if err != nil {
		return c, nil, err
	}
	if verr == nil {
		s.cache.Put(key, ver, cached{conn: c, secrets: secrets})
	}
	return c, secrets, nil
}

// credential returns appID's credential id with its opened data (the map
// is shared: read only). store.ErrNotFound when there is none.
func (s *Service) credential(ctx context.Context, appID, id string) (store.Credential, map[string]any, error) {
	key := cacheKey("credential", appID, id)
	ver, verr := s.version(ctx, appID)
	if verr == nil {
		if e, ok := s.cache.Get(key, ver); ok {
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
		s.cache.Put(key, ver, cached{cred: c, data: data})
	}
	return c, data, nil
}
