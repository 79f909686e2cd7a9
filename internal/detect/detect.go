// Package detect finds the provider and the mail servers of an email
// address: first from a reviewed table of providers (providers.json),
// then, for other domains, by discovery in a fixed order: MX records
// matched against the table (Google Workspace, Microsoft 365 and other
// hosted custom domains), RFC 6186 SRV records, Mozilla autoconfig and
// Microsoft Autodiscover. Every answer says how it was found.
//
// Discovery results are cached with their DNS TTL (negative answers
// briefly), concurrent lookups of one domain are made once, and the cache
// is bounded. The resolver and the HTTP client are injected; HTTP
// discovery only contacts public addresses unless told otherwise.
package detect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// How an answer was found (Result.DetectedBy, MailServers.Source).
const (
	ByKnownDomain  = "known_domain"
	ByMX           = "mx"
	BySRV          = "srv"
	ByAutoconfig   = "autoconfig"
	ByAutodiscover = "autodiscover"
)

// Settings are the servers found for an address; empty fields are unknown.
type Settings struct {
	IMAPHost string `json:"imap_host,omitempty"`
	IMAPPort int    `json:"imap_port,omitempty"`
	SMTPHost string `json:"smtp_host,omitempty"`
	SMTPPort int    `json:"smtp_port,omitempty"`
	EWSURL   string `json:"ews_url,omitempty"`
}

// Result is the answer of Detect.
type Result struct {
	// Email is the canonical address; Domain its ASCII domain.
	Email  string
	Domain string
	// Detected is true when a provider was found that the caller can use
	// (one with a connector, or any when all provider types were asked).
	Detected bool
	// Provider is the Nylas provider (google, microsoft, yahoo, icloud,
	// imap, ews); empty when not detected.
	Provider string
	// Type is the IMAP family (icloud, yahoo, aol, …), only when Provider
	// is imap or icloud.
	Type string
	// DetectedBy says how the provider was found (known_domain, mx, srv,
	// autoconfig, autodiscover); empty when nothing was found.
	DetectedBy string
	// Match is the id of the table entry that matched, if any.
	Match               string
	AppPasswordRequired bool
	Settings            Settings
	// Reason explains the answer in a sentence.
	Reason string
}

// Options configure a Detector. Zero values get the defaults shown.
type Options struct {
	// Table is the provider table (default: the embedded providers.json).
	Table *Table
	// Resolver answers DNS questions. Default: a DNSResolver asking
	// DNSServer when it is set, else the system resolver.
	Resolver  Resolver
	DNSServer string
	// HTTPClient fetches autoconfig and Autodiscover documents. When its
	// transport is an *http.Transport (or nil), it is cloned: host names
	// are resolved through Resolver, only public addresses are dialled
	// (unless AllowPrivateNetworks, or AllowedNetworks holds the
	// address), and no proxy is used.
	HTTPClient           *http.Client
	AllowPrivateNetworks bool
	AllowedNetworks      []netip.Prefix
	// Timeout bounds one whole discovery (10s); DNSTimeout each DNS step
	// (2s); HTTPTimeout each HTTP request (4s).
	Timeout     time.Duration
	DNSTimeout  time.Duration
	HTTPTimeout time.Duration
	// AutoconfigURLs returns the Mozilla autoconfig URLs tried in order
	// (default: https://autoconfig.<domain>/mail/config-v1.1.xml, then
	// https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml).
	AutoconfigURLs func(domain, email string) []string
	// AutodiscoverURLs returns the Autodiscover (POX) URLs tried in order
	// (default: https://autodiscover.<domain>/autodiscover/autodiscover.xml,
	// then https://<domain>/autodiscover/autodiscover.xml; then the
	// _autodiscover._tcp SRV record is asked). AutodiscoverURL, when set,
	// replaces them all with one fixed URL and skips the MX and SRV steps
	// in FindEWS (providers.ews.autodiscover_url).
	AutodiscoverURLs func(domain string) []string
	AutodiscoverURL  string
	// CacheSize caps the cached domains (10,000); negative disables the
	// cache.
	CacheSize int
	// TTL bounds: DNS answers are cached for their TTL within
	// [MinTTL (30s), MaxTTL (1h)]; answers without a TTL (system resolver,
	// HTTP documents) for DefaultTTL (5m); negative answers for
	// NegativeTTL (1m). Transient failures are not cached.
	MinTTL, MaxTTL, DefaultTTL, NegativeTTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Detector detects providers and finds servers. It implements
// provider.ServerFinder and provider.EWSFinder. Safe for concurrent use.
type Detector struct {
	o     Options
	table *Table
	res   Resolver
	hc    *http.Client
	cache *cache
	sf    singleflight.Group
	known map[*Entry]*finding
}

var (
	_ provider.ServerFinder = (*Detector)(nil)
	_ provider.EWSFinder    = (*Detector)(nil)
)

// New returns a Detector.
func New(o Options) *Detector {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 10*time.Second)
	def(&o.DNSTimeout, 2*time.Second)
	def(&o.HTTPTimeout, 4*time.Second)
	def(&o.MinTTL, 30*time.Second)
	def(&o.MaxTTL, time.Hour)
	def(&o.DefaultTTL, 5*time.Minute)
	def(&o.NegativeTTL, time.Minute)
	o.DNSTimeout, o.HTTPTimeout = min(o.DNSTimeout, o.Timeout), min(o.HTTPTimeout, o.Timeout)
	if o.CacheSize == 0 {
		o.CacheSize = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Table == nil {
		o.Table = DefaultTable()
	}
	if o.Resolver == nil {
		if o.DNSServer != "" {
			o.Resolver = &DNSResolver{Server: o.DNSServer, Timeout: o.DNSTimeout}
		} else {
			o.Resolver = &SystemResolver{}
		}
	}
	if o.AutoconfigURLs == nil {
		o.AutoconfigURLs = func(domain, email string) []string {
			q := "?emailaddress=" + url.QueryEscape(email)
			return []string{
				"https://autoconfig." + domain + "/mail/config-v1.1.xml" + q,
				"https://" + domain + "/.well-known/autoconfig/mail/config-v1.1.xml" + q,
			}
		}
	}
	if o.AutodiscoverURL != "" {
		fixed := o.AutodiscoverURL
		o.AutodiscoverURLs = func(string) []string { return []string{fixed} }
	}
	if o.AutodiscoverURLs == nil {
		o.AutodiscoverURLs = func(domain string) []string {
			return []string{
				"https://autodiscover." + domain + "/autodiscover/autodiscover.xml",
				"https://" + domain + "/autodiscover/autodiscover.xml",
			}
		}
	}
	d := &Detector{o: o, table: o.Table, res: o.Resolver, cache: newCache(o.CacheSize), known: map[*Entry]*finding{}}
	d.hc = d.httpClient(o.HTTPClient)
	for _, e := range d.table.Entries {
		d.known[e] = &finding{entry: e, by: ByKnownDomain, settings: e.settings()}
	}
	return d
}

// Table returns the provider table in use.
func (d *Detector) Table() *Table { return d.table }

func (e *Entry) settings() Settings {
	var s Settings
	if e.IMAP != nil {
		s.IMAPHost, s.IMAPPort = e.IMAP.Host, e.IMAP.Port
	}
	if e.SMTP != nil {
		s.SMTPHost, s.SMTPPort = e.SMTP.Host, e.SMTP.Port
	}
	s.EWSURL = e.EWS
	return s
}

// finding is what discovery learned about a domain; it is shared by the
// cache and must not be changed once built.
type finding struct {
	entry    *Entry // the table entry matched (known domain or MX), if any
	by       string // how; "" when nothing was found
	settings Settings
	reason   string
	ttl      time.Duration
	// transient is set when nothing was found because a lookup failed in a
	// way that may pass (timeout, SERVFAIL); such findings are not cached.
	transient error
}

func (f *finding) found() bool {
	return f.entry != nil || f.settings.IMAPHost != "" || f.settings.EWSURL != ""
}

// noLookup lists the special-use top-level names (RFC 6761, 6762, 7686)
// that are never looked up.
var noLookup = []string{"invalid", "localhost", "local", "onion", "internal", "home.arpa"}

func reservedDomain(domain string) bool {
	for _, n := range noLookup {
		if domain == n || strings.HasSuffix(domain, "."+n) {
			return true
		}
	}
	return false
}

// Detect finds the provider of email. hasConnector reports whether the
// application has a connector for a provider; unless all is true, only
// such providers count as detected. A malformed email is a
// provider.ClassBadRequest error; discovery that could not complete (DNS
// timeout or failure) with nothing found is provider.ClassUnavailable.
func (d *Detector) Detect(ctx context.Context, email string, hasConnector func(provider string) (bool, error), all bool) (Result, error) {
	e, err := emailaddr.Parse(email)
	if err != nil {
		return Result{}, provider.Errorf(provider.ClassBadRequest, "%s", err.Error())
	}
	r := Result{Email: e.String(), Domain: e.Domain}
	// The answer comes within Timeout even when both the mail and the
	// Autodiscover flights must run; a flight cut short still finishes
	// in the background and fills the cache.
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	f, err := d.mailFinding(ctx, e)
	if err != nil {
		return r, err
	}
	if !f.found() && f.transient == nil {
		ef, err := d.ewsFinding(ctx, e)
		if err != nil {
			return r, err
		}
		if ef.found() {
			f = ef
		} else if ef.reason != "" && ef.reason != f.reason {
			r.Reason = f.reason + "; " + ef.reason
			return r, nil
		}
	}
	if !f.found() {
		if f.transient != nil {
			return r, &provider.Error{Class: provider.ClassUnavailable, Message: fmt.Sprintf("could not complete provider discovery for %s: %s; retry later", e.Domain, f.reason), Err: f.transient}
		}
		r.Reason = f.reason
		return r, nil
	}
	var candidates []string
	switch {
	case f.entry != nil:
		candidates = f.entry.Candidates()
		r.Match, r.AppPasswordRequired = f.entry.ID, f.entry.AppPasswordRequired
	case f.settings.IMAPHost != "":
		candidates = []string{provider.IMAP}
	default:
		candidates = []string{provider.EWS}
	}
	r.DetectedBy, r.Settings, r.Reason = f.by, f.settings, f.reason
	if len(candidates) == 0 {
		// Found, but no provider can connect (Proton Mail).
		r.Reason += "; " + f.entry.Note
		return r, nil
	}
	chosen := ""
	if all || hasConnector == nil {
		chosen = candidates[0]
	} else {
		for _, p := range candidates {
			ok, err := hasConnector(p)
			if err != nil {
				return r, err
			}
			if ok {
				chosen = p
				break
			}
		}
		if chosen == "" {
			r.Reason += fmt.Sprintf("; the application has no connector for %s (all_provider_types=true answers it anyway)", strings.Join(candidates, " or "))
			return r, nil
		}
	}
	r.Detected, r.Provider = true, chosen
	// type names the IMAP family, only when the answer is imap (the
	// reference; iCloud is its own provider).
	if chosen == provider.IMAP {
		if f.entry != nil {
			r.Type = f.entry.Type
		}
	}
	return r, nil
}

// FindMailServers implements provider.ServerFinder: the IMAP and SMTP
// servers of email, from the table or by discovery.
func (d *Detector) FindMailServers(ctx context.Context, email string) (provider.MailServers, error) {
	e, err := emailaddr.Parse(email)
	if err != nil {
		return provider.MailServers{}, provider.Errorf(provider.ClassBadRequest, "%s", err.Error())
	}
	f, err := d.mailFinding(ctx, e)
	if err != nil {
		return provider.MailServers{}, err
	}
	if f.entry != nil && f.entry.BridgeOnly {
		return provider.MailServers{}, provider.Errorf(provider.ClassBadRequest,
			"%s is %s, which has no IMAP or SMTP server grantd can reach (only its bridge on the user's own machine): imap_host and smtp_host cannot be found", e.Domain, f.entry.Name)
	}
	var missing []string
	if f.settings.IMAPHost == "" {
		missing = append(missing, "imap_host")
	}
	if f.settings.SMTPHost == "" {
		missing = append(missing, "smtp_host")
	}
	if len(missing) > 0 {
		if f.transient != nil {
			return provider.MailServers{}, &provider.Error{Class: provider.ClassUnavailable,
				Message: fmt.Sprintf("could not look up %s for %s (%s); retry, or give %s in settings", strings.Join(missing, " and "), e.Domain, f.reason, strings.Join(missing, " and ")), Err: f.transient}
		}
		return provider.MailServers{}, provider.Errorf(provider.ClassBadRequest,
			"could not find %s for %s (%s); give %s in settings", strings.Join(missing, " and "), e.Domain, f.reason, strings.Join(missing, " and "))
	}
	s := f.settings
	return provider.MailServers{IMAPHost: s.IMAPHost, IMAPPort: s.IMAPPort, SMTPHost: s.SMTPHost, SMTPPort: s.SMTPPort, Source: f.by}, nil
}

// FindEWS implements provider.EWSFinder: the EWS URL of email, from the
// table (Microsoft 365 by domain or MX) or by Autodiscover.
func (d *Detector) FindEWS(ctx context.Context, email string) (string, error) {
	e, err := emailaddr.Parse(email)
	if err != nil {
		return "", provider.Errorf(provider.ClassBadRequest, "%s", err.Error())
	}
	if d.o.AutodiscoverURL == "" {
		f, err := d.mailFinding(ctx, e)
		if err != nil {
			return "", err
		}
		if f.entry != nil {
			if f.entry.EWS == "" {
				return "", provider.Errorf(provider.ClassBadRequest, "%s is %s (%s), which has no Exchange Web Services: the EWS URL cannot be found", e.Domain, f.entry.Name, f.reason)
			}
			return f.entry.EWS, nil
		}
	}
	f, err := d.ewsFinding(ctx, e)
	if err != nil {
		return "", err
	}
	if f.settings.EWSURL == "" {
		return "", provider.Errorf(provider.ClassBadRequest, "could not find the EWS URL of %s (%s); give the EWS server in settings", e.Domain, f.reason)
	}
	return f.settings.EWSURL, nil
}

// mailFinding answers from the table, the cache or a (single-flight)
// discovery of MX, SRV and autoconfig.
func (d *Detector) mailFinding(ctx context.Context, e emailaddr.Email) (*finding, error) {
	if ent := d.table.ByDomain(e.Domain); ent != nil {
		f := *d.known[ent]
		f.reason = e.Domain + " is a known " + ent.ID + " domain"
		return &f, nil
	}
	if reservedDomain(e.Domain) {
		return &finding{reason: e.Domain + " is a special-use name (RFC 6761) and is never looked up"}, nil
	}
	return d.lookup(ctx, "mail:"+e.Domain, func(ctx context.Context) *finding { return d.discoverMail(ctx, e) })
}

// ewsFinding answers from the cache or a (single-flight) Autodiscover.
func (d *Detector) ewsFinding(ctx context.Context, e emailaddr.Email) (*finding, error) {
	if reservedDomain(e.Domain) && d.o.AutodiscoverURL == "" {
		return &finding{reason: e.Domain + " is a special-use name (RFC 6761) and is never looked up"}, nil
	}
	return d.lookup(ctx, "ews:"+e.Domain, func(ctx context.Context) *finding { return d.discoverEWS(ctx, e) })
}

func (d *Detector) lookup(ctx context.Context, key string, run func(context.Context) *finding) (*finding, error) {
	if f, ok := d.cache.get(key, d.o.Now()); ok {
		return f, nil
	}
	ch := d.sf.DoChan(key, func() (any, error) {
		if f, ok := d.cache.get(key, d.o.Now()); ok {
			return f, nil
		}
		// The flight is shared: one caller giving up must not cancel it
		// for the others, so it runs under its own deadline.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.Timeout)
		defer cancel()
		f := run(fctx)
		// A discovery cut short by its deadline is not a finding: caching
		// it would answer a retry with a definite "not found" for what was
		// only slow (the first caller got a 504 saying to retry).
		if f.transient == nil && fctx.Err() == nil {
			ttl := f.ttl
			if !f.found() {
				ttl = d.o.NegativeTTL
			}
			d.cache.put(key, f, d.o.Now().Add(ttl))
		}
		return f, nil
	})
	select {
	case r := <-ch:
		return r.Val.(*finding), nil
	case <-ctx.Done():
		return nil, &provider.Error{Class: provider.ClassUnavailable, Message: "provider discovery did not finish in time; retry later", Err: ctx.Err()}
	}
}

// ttlOf turns a DNS TTL in seconds (0: unknown) into a cache lifetime.
func (d *Detector) ttlOf(sec uint32) time.Duration {
	if sec == 0 {
		return d.o.DefaultTTL
	}
	return min(max(time.Duration(sec)*time.Second, d.o.MinTTL), d.o.MaxTTL)
}

// isNotFound reports a definite "no such record".
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// discoverMail runs MX, then SRV, then autoconfig, stopping as soon as
// the IMAP and SMTP servers are known.
func (d *Detector) discoverMail(ctx context.Context, e emailaddr.Email) *finding {
	var notes []string
	var transient error
	fail := func(step string, err error) {
		notes = append(notes, step+": "+errText(err))
		if !isNotFound(err) && transient == nil {
			transient = err
		}
	}

	// 1. MX against the table.
	sctx, cancel := context.WithTimeout(ctx, d.o.DNSTimeout)
	mxs, mxTTL, err := d.res.LookupMX(sctx, e.Domain)
	cancel()
	if err != nil {
		fail("MX", err)
	} else {
		if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
			return &finding{reason: e.Domain + " has a null MX (RFC 7505): it receives no mail", ttl: d.ttlOf(mxTTL)}
		}
		var hosts []string
		for _, mx := range mxs {
			host := trimDot(mx.Host)
			if ent, pat := d.table.ByMX(host); ent != nil {
				return &finding{entry: ent, by: ByMX, settings: ent.settings(), ttl: d.ttlOf(mxTTL),
					reason: fmt.Sprintf("MX %s of %s matches %s (%s)", host, e.Domain, pat, ent.ID)}
			}
			hosts = append(hosts, host)
		}
		notes = append(notes, "MX "+strings.Join(hosts, ", ")+" matches no known provider")
	}

	// 2. RFC 6186 SRV records, asked together.
	f := &finding{ttl: d.o.MaxTTL}
	srv := d.lookupSRVs(ctx, e.Domain)
	for _, s := range srv {
		if s.err != nil {
			if !isNotFound(s.err) {
				fail("SRV", s.err)
			}
			continue
		}
		f.ttl = min(f.ttl, d.ttlOf(s.ttl))
	}
	if imap := firstSRV(srv, "_imaps._tcp", "_imap._tcp"); imap != nil {
		f.settings.IMAPHost, f.settings.IMAPPort = imap.host, imap.port
		f.by = BySRV
		f.reason = fmt.Sprintf("SRV %s.%s points to %s:%d", imap.name, e.Domain, imap.host, imap.port)
	}
	if smtp := firstSRV(srv, "_submissions._tcp", "_submission._tcp"); smtp != nil {
		f.settings.SMTPHost, f.settings.SMTPPort = smtp.host, smtp.port
	}
	if f.by == "" {
		notes = append(notes, "no IMAP SRV record")
	}

	// 3. Mozilla autoconfig, for whatever is still missing.
	if f.settings.IMAPHost == "" || f.settings.SMTPHost == "" {
		ac, src, err := d.autoconfig(ctx, e)
		if err != nil {
			notes = append(notes, "autoconfig: "+errText(err))
		} else {
			f.ttl = min(f.ttl, d.o.DefaultTTL)
			if f.settings.IMAPHost == "" && ac.IMAPHost != "" {
				f.settings.IMAPHost, f.settings.IMAPPort = ac.IMAPHost, ac.IMAPPort
				f.by = ByAutoconfig
				f.reason = "autoconfig document " + src
			}
			if f.settings.SMTPHost == "" && ac.SMTPHost != "" {
				f.settings.SMTPHost, f.settings.SMTPPort = ac.SMTPHost, ac.SMTPPort
			}
		}
	}
	if f.settings.IMAPHost != "" {
		return f
	}
	f.reason = strings.Join(notes, "; ")
	f.transient = transient
	return f
}

type srvAnswer struct {
	name string // _imaps._tcp
	host string
	port int
	ttl  uint32
	err  error
}

var srvNames = []string{"_imaps._tcp", "_imap._tcp", "_submissions._tcp", "_submission._tcp"}

func (d *Detector) lookupSRVs(ctx context.Context, domain string) []srvAnswer {
	out := make([]srvAnswer, len(srvNames))
	done := make(chan struct{}, len(srvNames))
	sctx, cancel := context.WithTimeout(ctx, d.o.DNSTimeout)
	defer cancel()
	for i, n := range srvNames {
		go func() {
			defer func() { done <- struct{}{} }()
			a := srvAnswer{name: n}
			recs, ttl, err := d.res.LookupSRV(sctx, n+"."+domain)
			a.ttl, a.err = ttl, err
			for _, r := range recs {
				// Target "." means "this service is not offered" (RFC 2782).
				if h := trimDot(r.Target); h != "" && validHost(h) && r.Port != 0 {
					a.host, a.port = h, int(r.Port)
					break
				}
			}
			out[i] = a
		}()
	}
	for range srvNames {
		<-done
	}
	return out
}

func firstSRV(ans []srvAnswer, names ...string) *srvAnswer {
	for _, n := range names {
		for i := range ans {
			if ans[i].name == n && ans[i].err == nil && ans[i].host != "" {
				return &ans[i]
			}
		}
	}
	return nil
}

// discoverEWS asks the Autodiscover URLs in order, then the
// _autodiscover._tcp SRV record.
func (d *Detector) discoverEWS(ctx context.Context, e emailaddr.Email) *finding {
	var notes []string
	urls := d.o.AutodiscoverURLs(e.Domain)
	if d.o.AutodiscoverURL == "" {
		sctx, cancel := context.WithTimeout(ctx, d.o.DNSTimeout)
		recs, _, err := d.res.LookupSRV(sctx, "_autodiscover._tcp."+e.Domain)
		cancel()
		if err == nil {
			for _, r := range recs {
				if h := trimDot(r.Target); validHost(h) && r.Port != 0 {
					urls = append(urls, "https://"+net.JoinHostPort(h, fmt.Sprint(r.Port))+"/autodiscover/autodiscover.xml")
					break
				}
			}
		}
	}
	for _, u := range urls {
		ews, err := d.autodiscover(ctx, u, e.String(), 1)
		if err != nil {
			notes = append(notes, "Autodiscover "+redactURL(u)+": "+errText(err))
			continue
		}
		return &finding{by: ByAutodiscover, settings: Settings{EWSURL: ews}, ttl: d.o.DefaultTTL, reason: "Autodiscover " + redactURL(u) + " gives EWS " + ews}
	}
	return &finding{reason: strings.Join(notes, "; ")}
}

// errNotPublic: discovery refused to connect to a non-public address.
var errNotPublic = errors.New("not a public address (discovery only connects to the public internet)")

// errText shortens errors for reasons shown to API callers: categories,
// never an address, a resolver or a local port (the raw text of network
// errors carries them).
func errText(err error) string {
	if errors.Is(err, errNotPublic) {
		return errNotPublic.Error()
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return "no such name"
	}
	if isNotFound(err) {
		if strings.Contains(err.Error(), "NXDOMAIN") {
			return "no such name"
		}
		return "no record"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var (
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
		opErr   *net.OpError
		ue      *url.Error
	)
	switch {
	case errors.As(err, &de):
		return "DNS lookup failed"
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return "TLS certificate not valid"
	case errors.As(err, &record):
		return "not a TLS server"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &opErr):
		return "connection failed"
	case errors.As(err, &ue):
		// grantd's own words (a redirect refused, a bad answer): the URL
		// is not repeated.
		return ue.Err.Error()
	}
	return err.Error()
}

// redactURL drops the query (it carries the email address).
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// dial connects to addr for discovery HTTP: the host is resolved through
// the detector's resolver and only public addresses are used unless
// AllowPrivateNetworks (or AllowedNetworks).
func (d *Detector) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = d.res.LookupIP(ctx, host); err != nil {
			return nil, err
		}
	}
	var dialer net.Dialer
	var lastErr error
	for _, ip := range ips {
		if !(netx.Guard{AllowPrivate: d.o.AllowPrivateNetworks, Allowed: d.o.AllowedNetworks}).Permits(ip) {
			// Neither the host nor the address is repeated: reasons are
			// shown to API callers, who must not learn internal DNS.
			lastErr = errNotPublic
			continue
		}
		c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%s has no address", host)
	}
	return nil, lastErr
}

func (d *Detector) httpClient(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	var base *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		base = http.DefaultTransport.(*http.Transport)
	case *http.Transport:
		base = t
	}
	if base != nil {
		t := base.Clone()
		t.Proxy = nil
		t.DialContext = d.dial
		t.DialTLSContext = nil
		t.MaxResponseHeaderBytes = 64 << 10 // discovery answers are small
		c.Transport = t
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s: discovery only follows https", req.URL.Scheme)
		}
		return nil
	}
	return c
}
