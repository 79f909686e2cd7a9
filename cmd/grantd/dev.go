package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/domain"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/native"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/redirecturi"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/sandbox/ews"
	"github.com/grantd/grantd/internal/sandbox/mail"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
)

// DevFile is the name of the file `grantd dev` writes in its data
// directory; its fields are documented in docs/dev.md.
const DevFile = "dev.json"

// devOutput is the content of dev.json (a public contract: docs/dev.md).
type devOutput struct {
	APIURL        string `json:"api_url"`
	APIKey        string `json:"api_key"`
	ApplicationID string `json:"application_id"`
	SandboxURL    string `json:"sandbox_url"`
	// WebhookReceiverURL is the dev receiver, which prints every event
	// (WebhookID is its destination).
	WebhookReceiverURL string `json:"webhook_receiver_url"`
	WebhookID          string `json:"webhook_id"`
	// RedirectURI is the application's redirect URI for hosted OAuth (a
	// page of the dev receiver that prints the code); HostedAuthURL
	// starts a hosted OAuth sign-in of the Google identity in a browser.
	RedirectURI   string                 `json:"redirect_uri"`
	HostedAuthURL string                 `json:"hosted_auth_url"`
	DataDir       string                 `json:"data_dir"`
	Identities    map[string]devIdentity `json:"identities"`
	// NativeIdentities are users of the mail stand-in for the v2 native
	// mail services (yahoo, aol, hotmail, outlook), by v2 provider name,
	// with the settings of a POST /connect/authorize.
	NativeIdentities map[string]devIdentity `json:"native_identities"`
	// GoogleServiceAccount is a service account of the Google stand-in
	// with domain-wide delegation for the users of its Workspace domain,
	// and its serviceaccount credential on the google connector.
	GoogleServiceAccount *devServiceAccount `json:"google_service_account,omitempty"`
	// MicrosoftAdminConsent is a tenant of the Microsoft stand-in whose
	// administrator consented to an app registration, and its
	// adminconsent credential on the microsoft connector.
	MicrosoftAdminConsent *devAdminConsent `json:"microsoft_admin_consent,omitempty"`
	// AgentDomain is a domain of the application, verified through
	// dev's DNS stand-in, for agent accounts (provider nylas).
	AgentDomain *devAgentDomain `json:"agent_domain,omitempty"`
}

type devAgentDomain struct {
	ID            string `json:"id"`
	DomainAddress string `json:"domain_address"`
	MXHost        string `json:"mx_host"`
	// Settings are those of a POST /v3/connect/custom for an agent
	// mailbox on it.
	Settings map[string]any `json:"settings"`
}

// Dev's agent-account domain, its MX host and a mailbox's password.
const (
	devAgentDomainAddress = "agents.example"
	devAgentMXHost        = "mx." + devAgentDomainAddress
	devAgentPassword      = "Dev-Agent-Password-2024"
)

type devAdminConsent struct {
	Tenant       string   `json:"tenant"`
	ClientID     string   `json:"client_id"`
	Users        []string `json:"users"`
	CredentialID string   `json:"credential_id"`
	// Settings are those of a POST /v3/connect/custom for the first user.
	Settings map[string]any `json:"settings"`
}

// Dev's Microsoft tenant with app permissions.
const devTenant = "7e1a5c00-0de0-4de0-8000-000000000001"

var devTenantUsers = []string{"ada@tenant.example", "bob@tenant.example", "cy@tenant.example"}

type devServiceAccount struct {
	ClientEmail  string   `json:"client_email"`
	Domain       string   `json:"domain"`
	Users        []string `json:"users"`
	Scopes       []string `json:"scopes"`
	CredentialID string   `json:"credential_id"`
	// Settings are those of a POST /v3/connect/custom for the first user.
	Settings map[string]any `json:"settings"`
	// Key is the JSON key file (the credential's credential_data).
	Key json.RawMessage `json:"key"`
}

// Dev's Google Workspace: the service account's domain and users.
const devWorkspace = "workspace.example"

var devWorkspaceUsers = []string{"ada@" + devWorkspace, "bob@" + devWorkspace, "cy@" + devWorkspace}

var devServiceAccountScopes = []string{
	"https://www.googleapis.com/auth/gmail.readonly",
	"https://www.googleapis.com/auth/calendar",
}

type devIdentity struct {
	Provider     string         `json:"provider"`
	Email        string         `json:"email"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	Scope        []string       `json:"scope,omitempty"`
	ClientID     string         `json:"client_id,omitempty"`
	Settings     map[string]any `json:"settings,omitempty"` // password providers: the BYO settings
}

// devSandboxes are the local stand-ins for password providers.
type devSandboxes struct {
	mail *mail.Server
	ews  *ews.Server
}

func (d devSandboxes) Close() {
	if d.mail != nil {
		d.mail.Close()
	}
	if d.ews != nil {
		d.ews.Close()
	}
}

// startPasswordSandboxes starts the IMAP/SMTP and EWS stand-ins and points
// the configuration at them: iCloud's hosts at the mail sandbox, and the
// sandboxes' CA certificates (written to the data directory) as trusted.
func startPasswordSandboxes(cfg *config.Config, log *slog.Logger) (devSandboxes, error) {
	var d devSandboxes
	var err error
	if d.mail, err = mail.Start(mail.Options{TLS: mail.StartTLS, Logger: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}); err != nil {
		return d, err
	}
	if d.ews, err = ews.Start(ews.Options{Auth: ews.Both}); err != nil {
		d.Close()
		return d, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		d.Close()
		return d, err
	}
	ca := filepath.Join(cfg.DataDir, "sandbox-ca.pem")
	pem := append(d.mail.CAPEM(), d.ews.CAPEM()...)
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		d.Close()
		return d, err
	}
	cfg.Network.CAFile = ca
	cfg.Providers.ICloud = d.mail.MailHosts()
	return d, nil
}

// passwordIdentities creates one user per password provider in the
// sandboxes and returns their BYO settings.
func (d devSandboxes) passwordIdentities() (map[string]devIdentity, error) {
	pw := func() string { p, _ := randomSecret(); return p }
	imapUser, imapPW := "dev.imap@example.com", pw()
	d.mail.AddUser(imapUser, imapPW)
	icloudUser, icloudPW, appPW := "dev.icloud@icloud.example", pw(), "abcd-efgh-ijkl-mnop"
	d.mail.AddAccount(mail.User{Email: icloudUser, Password: icloudPW, AppPassword: appPW, Behavior: mail.AppPasswordOnly})
	ewsUser, ewsPW := "dev.ews@example.com", pw()
	d.ews.AddUser(ewsUser, ewsUser, ewsPW, "Dev EWS user")
	return map[string]devIdentity{
		provider.IMAP: {Provider: provider.IMAP, Email: imapUser, Settings: map[string]any{
			"imap_username": imapUser, "imap_password": imapPW,
			"imap_host": d.mail.Host(), "imap_port": d.mail.IMAPPort(),
			"smtp_host": d.mail.Host(), "smtp_port": d.mail.SMTPPort(),
		}},
		provider.ICloud: {Provider: provider.ICloud, Email: icloudUser, Settings: map[string]any{
			"username": icloudUser, "password": appPW,
		}},
		provider.EWS: {Provider: provider.EWS, Email: ewsUser, Settings: map[string]any{
			"email": ewsUser, "ews_username": ewsUser, "ews_password": ewsPW,
			"ews_host": d.ews.Host(), "ews_port": d.ews.Port(),
		}},
	}, nil
}

// nativeIdentities points the v2 native flow's mail services at the mail
// stand-in and creates one user for each. Those services (yahoo, aol,
// hotmail, outlook) log in to the servers detection's table names for
// them (imap.mail.yahoo.com, imap.aol.com, outlook.office365.com and their
// SMTP servers), which a playground cannot reach with made-up accounts:
// here the native flow gets a copy of the table in which every IMAP and
// SMTP server is the stand-in's. Only `grantd dev` does this; provider
// detection, /v3/connect/custom and `grantd serve` keep the real servers.
func (d devSandboxes) nativeIdentities(srv *server.Server) map[string]devIdentity {
	srv.Native.Servers = srv.Native.Servers.WithServers(
		detect.Server{Host: d.mail.Host(), Port: d.mail.IMAPPort()},
		detect.Server{Host: d.mail.Host(), Port: d.mail.SMTPPort()})
	out := map[string]devIdentity{}
	for _, name := range native.MailServices() {
		email := "dev." + name + "@" + name + ".example"
		pw, _ := randomSecret()
		d.mail.AddUser(email, pw)
		out[name] = devIdentity{Provider: name, Email: email, Settings: map[string]any{"username": email, "password": pw}}
	}
	return out
}

// devScopes are the scopes of the sandbox identities' refresh tokens.
var devScopes = map[string][]string{
	provider.Google:    {"openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile", "https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/calendar"},
	provider.Microsoft: {"openid", "profile", "email", "offline_access", "User.Read", "Mail.Read", "Calendars.ReadWrite"},
	provider.Yahoo:     {"openid", "email", "profile", "mail-r"},
	provider.Zoom:      {"meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting", "user:read:user"},
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "grantd-dev", "data directory of the playground (SQLite store, keyring, dev.json)")
	listen := fs.String("listen", "127.0.0.1:8080", "API listen address (use 127.0.0.1:0 for any free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dev: unexpected argument %q; dev takes only the flags --data-dir and --listen", fs.Arg(0))
	}
	cfg, err := config.Load("", os.Environ())
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.Listen, cfg.DatabaseURL, cfg.Vault.Keyring = *dataDir, *listen, "", ""
	cfg.Network.AllowInsecure = true
	// The stand-in IMAP, SMTP and EWS servers listen on loopback.
	cfg.Network.AllowPrivateHosts = true
	// The dev receiver listens on loopback.
	cfg.Webhooks.AllowPrivateURLs = true
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logger(cfg, stderr)
	if err != nil {
		return err
	}
	// The address first: a playground that cannot listen should leave
	// nothing behind (no data directory, no keyring).
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("dev: listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()

	if cfg.PublicURL == "" {
		// Hosted OAuth: providers send the browser back to this address.
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	sb, err := sandbox.Start(sandbox.Options{Logger: log})
	if err != nil {
		return err
	}
	defer sb.Close()
	cfg.Providers = mergeProviders(cfg.Providers, sb.Providers())
	pw, err := startPasswordSandboxes(&cfg, log)
	if err != nil {
		return err
	}
	defer pw.Close()

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	out, err := setUpDev(ctx, srv, sb)
	if err != nil {
		return err
	}
	stdout = &lockedWriter{w: stdout}
	rcv, err := startDevReceiver(stdout)
	if err != nil {
		return err
	}
	defer rcv.Close()
	if out.WebhookID, err = rcv.subscribe(ctx, srv, out.ApplicationID); err != nil {
		return fmt.Errorf("dev: subscribe the webhook receiver: %w", err)
	}
	out.WebhookReceiverURL = rcv.URL()
	out.RedirectURI = rcv.OAuthCallbackURL()
	if err := devRedirectURI(ctx, srv, out.ApplicationID, out.RedirectURI); err != nil {
		return fmt.Errorf("dev: the redirect URI: %w", err)
	}
	ids, err := pw.passwordIdentities()
	if err != nil {
		return err
	}
	for p, id := range ids {
		out.Identities[p] = id
	}
	out.NativeIdentities = pw.nativeIdentities(srv)
	out.APIURL = "http://" + ln.Addr().String()
	g := out.Identities[provider.Google]
	out.HostedAuthURL = out.APIURL + "/v3/connect/auth?" + url.Values{"client_id": {out.ApplicationID}, "redirect_uri": {out.RedirectURI},
		"response_type": {"code"}, "provider": {"google"}, "access_type": {"offline"}, "login_hint": {g.Email}, "state": {"dev"}}.Encode()
	out.DataDir = cfg.DataDir
	path := filepath.Join(cfg.DataDir, DevFile)
	if err := writeDevFile(path, out); err != nil {
		return err
	}
	printDev(stdout, out, path)
	return srv.Serve(ctx, ln)
}

// mergeProviders points the OAuth providers at the sandbox and keeps the
// rest of the configuration.
func mergeProviders(cfg, sb providers.Config) providers.Config {
	cfg.Google, cfg.Microsoft, cfg.Yahoo, cfg.Zoom = sb.Google, sb.Microsoft, sb.Yahoo, sb.Zoom
	return cfg
}

// setUpDev finds or creates the development application, points its OAuth
// connectors at the sandbox and mints a refresh token per provider.
func setUpDev(ctx context.Context, srv *server.Server, sb *sandbox.Sandbox) (devOutput, error) {
	var out devOutput
	path := filepath.Join(srv.Config.DataDir, DevFile)
	if b, err := os.ReadFile(path); err == nil {
		var prev devOutput
		if json.Unmarshal(b, &prev) == nil && prev.APIKey != "" {
			if p, err := srv.Tenants.Authenticate(ctx, prev.APIKey); err == nil && p.App.ID == prev.ApplicationID {
				out.ApplicationID, out.APIKey = prev.ApplicationID, prev.APIKey
			}
		}
	}
	if out.APIKey == "" {
		app, key, err := srv.Tenants.CreateApplication(ctx, "grantd dev")
		if err != nil {
			return out, err
		}
		out.ApplicationID, out.APIKey = app.ID, key
		srv.Log.Info("created the development application", slog.String("application_id", app.ID))
	}
	out.SandboxURL = sb.URL()
	out.Identities = map[string]devIdentity{}
	for _, prov := range srv.Connectors.OAuthProviders() {
		clientID := "grantd-dev-" + prov
		secret, err := randomSecret()
		if err != nil {
			return out, err
		}
		sb.AddClient(prov, clientID, secret)
		name := "grantd dev " + prov
		in := connector.Input{Name: &name, Provider: prov, Settings: map[string]any{"client_id": clientID, "client_secret": secret}, Scope: devScopes[prov]}
		if _, err := srv.Connectors.Update(ctx, out.ApplicationID, prov, in); err != nil {
			if !fault.Is(err, fault.NotFound) {
				return out, err
			}
			if _, err := srv.Connectors.Create(ctx, out.ApplicationID, in); err != nil {
				return out, err
			}
		}
		email := "dev." + prov + "@example.com"
		sb.AddUser(prov, sandbox.User{Email: email, Name: "Dev " + prov + " user"})
		rt, err := sb.MintRefreshToken(prov, clientID, email, devScopes[prov])
		if err != nil {
			return out, err
		}
		out.Identities[prov] = devIdentity{Provider: prov, Email: email, RefreshToken: rt, Scope: devScopes[prov], ClientID: clientID}
	}
	sa, err := setUpServiceAccount(ctx, srv, sb, out.ApplicationID)
	if err != nil {
		return out, fmt.Errorf("the google service account: %w", err)
	}
	out.GoogleServiceAccount = sa
	ac, err := setUpAdminConsent(ctx, srv, sb, out.ApplicationID)
	if err != nil {
		return out, fmt.Errorf("the microsoft admin consent: %w", err)
	}
	out.MicrosoftAdminConsent = ac
	ad, err := setUpAgentDomain(ctx, srv, out.ApplicationID)
	if err != nil {
		return out, fmt.Errorf("the agent domain: %w", err)
	}
	out.AgentDomain = ad
	return out, nil
}

// setUpAgentDomain registers devAgentDomainAddress for the application
// (or finds it), answers its DNS questions from a stand-in with the
// ownership TXT and MX records, and verifies both through the domain
// service, as POST /v3/admin/domains/{id}/verify does.
func setUpAgentDomain(ctx context.Context, srv *server.Server, appID string) (*devAgentDomain, error) {
	addr, mx := devAgentDomainAddress, devAgentMXHost
	name := "grantd dev agents"
	d, err := srv.Domains.Create(ctx, appID, domain.Input{Name: &name, Address: &addr, MXHost: &mx})
	if fault.Is(err, fault.Conflict) {
		d, err = srv.Store.GetDomainByAddress(ctx, appID, addr)
		if err == nil && d.MXHost != mx {
			d, err = srv.Domains.Update(ctx, appID, d.ID, domain.Input{MXHost: &mx})
		}
	}
	if err != nil {
		return nil, err
	}
	srv.Domains.Resolver = devDNS{zone: addr, txt: domain.TokenPrefix + d.Token, mx: mx, next: srv.Domains.Resolver}
	for _, typ := range []string{domain.TypeOwnership, domain.TypeMX} {
		rec, _, err := srv.Domains.Verify(ctx, appID, d.ID, typ)
		if err != nil {
			return nil, err
		}
		if rec.Status != domain.StatusDone {
			return nil, fmt.Errorf("%s of %s: %s", typ, addr, rec.Message)
		}
	}
	return &devAgentDomain{ID: d.ID, DomainAddress: addr, MXHost: mx,
		Settings: map[string]any{"email": "bot@" + addr, "app_password": devAgentPassword}}, nil
}

// devDNS is grantd dev's DNS stand-in for its agent domain: the zone's
// ownership TXT and MX records; other names go to next (the resolver
// grantd would use anyway).
type devDNS struct {
	zone, txt, mx string
	next          domain.Resolver
}

func (r devDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if strings.EqualFold(strings.TrimSuffix(name, "."), r.zone) {
		return []string{"v=spf1 -all", r.txt}, nil
	}
	return r.next.LookupTXT(ctx, name)
}

func (r devDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, uint32, error) {
	if strings.EqualFold(strings.TrimSuffix(name, "."), r.zone) {
		return []*net.MX{{Host: r.mx + ".", Pref: 10}}, 300, nil
	}
	return r.next.LookupMX(ctx, name)
}

// setUpAdminConsent gives the Microsoft stand-in a tenant with users whose
// administrator consented to an app registration, and stores it as the
// microsoft connector's "grantd dev tenant" adminconsent credential.
func setUpAdminConsent(ctx context.Context, srv *server.Server, sb *sandbox.Sandbox, appID string) (*devAdminConsent, error) {
	clientID := "grantd-dev-microsoft-app"
	secret, err := randomSecret()
	if err != nil {
		return nil, err
	}
	sb.AddClient(provider.Microsoft, clientID, secret)
	for _, u := range devTenantUsers {
		sb.AddUser(provider.Microsoft, sandbox.User{Email: u, Tenant: devTenant})
	}
	sb.GrantAdminConsent(devTenant, clientID)
	cred, err := devCredential(ctx, srv, appID, provider.Microsoft, "grantd dev tenant", connector.TypeAdminConsent,
		map[string]any{"client_id": clientID, "client_secret": secret, "tenant": devTenant})
	if err != nil {
		return nil, err
	}
	return &devAdminConsent{Tenant: devTenant, ClientID: clientID, Users: devTenantUsers, CredentialID: cred.ID,
		Settings: map[string]any{"email_address": devTenantUsers[0], "credential_id": cred.ID}}, nil
}

// devCredential creates the credential name of prov's connector, or
// replaces the data of the one an earlier run created.
func devCredential(ctx context.Context, srv *server.Server, appID, prov, name, typ string, data map[string]any) (store.Credential, error) {
	in := connector.CredentialInput{Name: &name, Type: typ, Data: data}
	creds, err := srv.Connectors.ListCredentials(ctx, appID, prov, store.ListOptions{})
	if err != nil {
		return store.Credential{}, err
	}
	for _, c := range creds {
		if c.Name == name {
			return srv.Connectors.UpdateCredential(ctx, appID, prov, c.ID, in)
		}
	}
	return srv.Connectors.CreateCredential(ctx, appID, prov, in)
}

// setUpServiceAccount gives the Google stand-in a service account of
// devWorkspace with its users and stores its key as the google
// connector's "grantd dev workspace" credential (replacing the key of an
// earlier run).
func setUpServiceAccount(ctx context.Context, srv *server.Server, sb *sandbox.Sandbox, appID string) (*devServiceAccount, error) {
	key, err := sb.AddServiceAccount(sandbox.ServiceAccount{ClientEmail: "grantd-dev@sandbox-project.iam.gserviceaccount.com", Domain: devWorkspace, Scopes: devServiceAccountScopes})
	if err != nil {
		return nil, err
	}
	for _, u := range devWorkspaceUsers {
		sb.AddUser(provider.Google, sandbox.User{Email: u})
	}
	var data map[string]any
	if err := json.Unmarshal(key, &data); err != nil {
		return nil, err
	}
	cred, err := devCredential(ctx, srv, appID, provider.Google, "grantd dev workspace", connector.TypeServiceAccount, data)
	if err != nil {
		return nil, err
	}
	return &devServiceAccount{
		ClientEmail: data["client_email"].(string), Domain: devWorkspace, Users: devWorkspaceUsers, Scopes: devServiceAccountScopes,
		CredentialID: cred.ID, Key: key,
		Settings: map[string]any{"email_address": devWorkspaceUsers[0], "credential_id": cred.ID, "scopes": devServiceAccountScopes[:1]},
	}, nil
}

// devRedirectURI makes u the development application's only redirect URI
// (the receiver's port changes with every run).
func devRedirectURI(ctx context.Context, srv *server.Server, appID, u string) error {
	list, err := srv.RedirectURIs.List(ctx, appID)
	if err != nil {
		return err
	}
	for _, r := range list {
		if r.URL == u {
			return nil
		}
		if err := srv.RedirectURIs.Delete(ctx, appID, r.ID); err != nil {
			return err
		}
	}
	_, err = srv.RedirectURIs.Create(ctx, appID, redirecturi.Input{URL: &u})
	return err
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func writeDevFile(path string, out devOutput) error {
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	// A fresh file, so that it is created 0600 even if an earlier run
	// left a temporary file with other permissions.
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printDev(w io.Writer, out devOutput, path string) {
	g := out.Identities[provider.Google]
	fmt.Fprintf(w, `
grantd dev is running.

  API URL:         %s
  API key:         %s
  Application ID:  %s
  Provider sandbox: %s
  Details:         %s

Create a grant from the sandbox's Google identity (%s):

  curl -s -X POST %s/v3/connect/custom \
    -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"provider":"google","settings":{"refresh_token":"%s"}}'

`, out.APIURL, out.APIKey, out.ApplicationID, out.SandboxURL, path, g.Email, out.APIURL, out.APIKey, g.RefreshToken)
	if out.HostedAuthURL != "" {
		fmt.Fprintf(w, `Or sign in through hosted OAuth: open this in a browser, choose the user on
the sandbox's consent page, and the receiver prints grantd's code:

  %s

`, out.HostedAuthURL)
	}
	for _, p := range []string{provider.IMAP, provider.EWS} {
		id, ok := out.Identities[p]
		if !ok {
			continue
		}
		body, _ := json.Marshal(map[string]any{"provider": p, "settings": id.Settings})
		fmt.Fprintf(w, `
An %s grant (%s):

  curl -s -X POST %s/v3/connect/custom \
    -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '%s'
`, strings.ToUpper(p), id.Email, out.APIURL, out.APIKey, body)
	}
	if ad := out.AgentDomain; ad != nil {
		body, _ := json.Marshal(map[string]any{"provider": provider.Agent, "settings": ad.Settings})
		fmt.Fprintf(w, `
An agent account on the verified domain %s (grantd keeps the identity and
the app password's hash; it does not host the mail):

  curl -s -X POST %s/v3/connect/custom \
    -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '%s'
`, ad.DomainAddress, out.APIURL, out.APIKey, body)
	}
	fmt.Fprintf(w, `
Webhooks: a receiver at %s (destination %s) gets every grant event
and prints it here with its signature checked (webhooks.allow_private_urls
is on in dev, so destinations on this machine are allowed). Point your own
receiver at grantd with POST %s/v3/webhooks.
`, out.WebhookReceiverURL, out.WebhookID, out.APIURL)
	fmt.Fprintln(w, "\nStop with Ctrl-C.")
}
