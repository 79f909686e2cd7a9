package importer

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// GrantLister lists an application's grants (store.Store does).
type GrantLister interface {
	ListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error)
}

// ExportOptions configure Export.
type ExportOptions struct {
	AppID string
	// Secrets decrypts a grant's secrets (grant.Service.Secrets); used
	// only with IncludeSecrets.
	Secrets func(store.Grant) (map[string]string, error)
	// IncludeSecrets writes each grant's refresh token or passwords, so
	// that the file can be imported into another grantd. Without it the
	// lines have no secrets and cannot be imported as they are.
	IncludeSecrets bool
	// PageSize is how many grants are read at a time (default 500).
	PageSize int
}

// ExportCounts says what Export wrote.
type ExportCounts struct {
	Grants   int
	Invalid  int // grants whose status was invalid (exported all the same)
	NoSecret int // grants with no secret to export (with IncludeSecrets)
}

// Export writes the application's grants to w as import lines, oldest
// first: external_id is the grant's id (an import's report then maps old
// ids to new ones), provider, settings (for OAuth providers the refresh
// token; for password providers the stored settings and, with
// IncludeSecrets, the passwords), scope and state. It reads page by page,
// in constant memory.
func Export(ctx context.Context, w io.Writer, st GrantLister, o ExportOptions) (ExportCounts, error) {
	var n ExportCounts
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	// Keyset paging on (created_at, id): grants made or deleted meanwhile
	// do not shift the pages. same counts the grants already written with
	// the last created_at, which the next page skips.
	var last time.Time
	same := 0
	for {
		gs, err := st.ListGrants(ctx, o.AppID, store.GrantFilter{
			ListOptions: store.ListOptions{Limit: o.PageSize, Offset: same, Asc: true, SortBy: "created_at"},
			Since:       last,
			WithSecrets: o.IncludeSecrets,
		})
		if err != nil {
			return n, err
		}
		for _, g := range gs {
			line, secret, err := exportLine(g, o)
			if err != nil {
				return n, err
			}
			if err := enc.Encode(line); err != nil {
				return n, err
			}
			n.Grants++
			if g.Status == store.GrantInvalid {
				n.Invalid++
			}
			if o.IncludeSecrets && !secret {
				n.NoSecret++
			}
			if g.CreatedAt.Equal(last) {
				same++
			} else {
				last, same = g.CreatedAt, 1
			}
		}
		if len(gs) < o.PageSize {
			return n, bw.Flush()
		}
	}
}

// exportLine is the import line of g; secret says whether it holds one.
func exportLine(g store.Grant, o ExportOptions) (Line, bool, error) {
	l := Line{ExternalID: g.ID, Provider: g.Provider, Scope: g.Scope, State: g.State, Settings: map[string]any{}}
	isOAuth := oauth(g.Provider)
	if !isOAuth {
		for k, v := range g.Settings {
			l.Settings[k] = v
		}
	}
	if !o.IncludeSecrets {
		return l, false, nil
	}
	secrets, err := o.Secrets(g)
	if err != nil {
		return l, false, err
	}
	secret := false
	if isOAuth {
		rt := secrets["refresh_token"]
		if _, app := provider.AppGrantSubject(rt); app {
			// A bulk grant (service account, app permissions): it has no
			// refresh token; the line authenticates it again with its
			// credential (which must exist where it is imported).
			l.Settings["email_address"], l.Settings["credential_id"] = g.Email, g.CredentialID
			if g.Provider == provider.Google {
				l.Settings["scopes"] = g.Scope
			}
			return l, false, nil
		}
		if rt != "" {
			l.Settings["refresh_token"], secret = rt, true
		}
		return l, secret, nil
	}
	// A password grant's secrets are its passwords, under the names of
	// the settings they came from.
	for k, v := range secrets {
		l.Settings[k], secret = v, true
	}
	return l, secret, nil
}
