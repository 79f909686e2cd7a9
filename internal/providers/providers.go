// Package providers is the list of the providers grantd serves: their
// configuration (the providers.* keys) and the one line each that builds
// and registers it. A provider package under internal/provider owns
// everything else about its provider; adding one touches its package and
// this list (see docs/architecture.md, "Providers").
package providers

import (
	"net/http"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/agent"
	"github.com/grantd/grantd/internal/provider/ews"
	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/provider/icloud"
	"github.com/grantd/grantd/internal/provider/imap"
	"github.com/grantd/grantd/internal/provider/microsoft"
	"github.com/grantd/grantd/internal/provider/virtualcalendar"
	"github.com/grantd/grantd/internal/provider/yahoo"
	"github.com/grantd/grantd/internal/provider/zoom"
)

// Config is the configuration of the providers that have one: the
// providers.* keys of grantd's configuration (internal/config embeds it;
// docs/configuration.md documents every key).
type Config struct {
	Google    google.Config    `yaml:"google"`
	Microsoft microsoft.Config `yaml:"microsoft"`
	Yahoo     yahoo.Config     `yaml:"yahoo"`
	Zoom      zoom.Config      `yaml:"zoom"`
	ICloud    icloud.Config    `yaml:"icloud"`
	EWS       ews.Config       `yaml:"ews"`
}

// DefaultConfig is every provider's default configuration (the real
// services' endpoints).
func DefaultConfig() Config {
	return Config{
		Google:    google.DefaultConfig(),
		Microsoft: microsoft.DefaultConfig(),
		Yahoo:     yahoo.DefaultConfig(),
		Zoom:      zoom.DefaultConfig(),
		ICloud:    icloud.DefaultConfig(),
		EWS:       ews.DefaultConfig(),
	}
}

// Env is what the providers are built with besides their own
// configuration.
type Env struct {
	// Network gives the trusted CAs, the timeout and whether plaintext is
	// allowed, for the providers that open their own connections (IMAP,
	// SMTP, EWS).
	Network netx.Config
	// HTTP is the OAuth providers' client; nil means one with
	// oauthx.DefaultTimeout.
	HTTP *http.Client
	// MailFinder finds the IMAP and SMTP servers a caller left out, and
	// EWSFinder the EWS URL (provider detection, internal/detect); either
	// may be nil, and the settings are then required.
	MailFinder provider.ServerFinder
	EWSFinder  provider.EWSFinder
	// Domains tells the agent provider which domains an application
	// verified (internal/domain); nil: agent grants cannot be created
	// (settings are still checked).
	Domains agent.Domains
}

// New builds and registers every provider, in the order they are listed
// to people (in messages such as "provider is required; one of: …").
func New(cfg Config, env Env) *provider.Registry {
	r := provider.NewRegistry()
	mail := imap.New(imap.Options{Network: env.Network, Finder: env.MailFinder})
	r.Register(provider.Google, google.New(cfg.Google, env.HTTP))
	r.Register(provider.Microsoft, microsoft.New(cfg.Microsoft, env.HTTP))
	r.Register(provider.Yahoo, yahoo.New(cfg.Yahoo, env.HTTP))
	r.Register(provider.Zoom, zoom.New(cfg.Zoom, env.HTTP))
	r.Register(provider.IMAP, mail)
	r.Register(provider.ICloud, icloud.New(cfg.ICloud, mail))
	r.Register(provider.EWS, ews.New(env.Network, env.EWSFinder))
	r.Register(provider.VirtualCalendar, virtualcalendar.New())
	r.Register(provider.Agent, agent.New(env.Domains, 0))
	return r
}
