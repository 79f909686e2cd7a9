package native

import (
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

// The v2 → v3 mapping: every v2 name, setting and scope grantd knows is in
// this file (docs/api.md shows the same tables).

// kind is how a v2 provider's settings become v3 settings.
type kind int

const (
	kindGoogle          kind = iota // google_client_id/secret/refresh_token → google refresh_token + the matching client
	kindMicrosoft                   // microsoft_* + redirect_uri → microsoft refresh_token + the matching client
	kindExchange                    // username/password/exchange_server_host → ews_*
	kindIMAP                        // imap_*/smtp_* → imap
	kindMailService                 // username/password → imap on the service's servers (detection's table)
	kindICloud                      // username/password → icloud
	kindVirtualCalendar             // provider "nylas" → virtual-calendar {email}
)

// v2Provider is one v2 provider name.
type v2Provider struct {
	Name     string // the v2 name
	Provider string // the v3 provider its grants have
	Kind     kind
	// Servers is the id of the entry of detection's table (providers.json)
	// whose IMAP and SMTP servers a kindMailService account uses.
	Servers string
	// Settings are the settings it takes, in the order they are listed
	// to people.
	Settings []setting
}

// settingType is what a setting's value must be.
type settingType int

const (
	text settingType = iota // a string
	port                    // a port: a number or a string of digits
	flag                    // a boolean
)

type setting struct {
	Key      string
	Required bool
	Type     settingType
	// Alias is another name v2 clients send the setting under (the Java
	// SDK's eas_server_host).
	Alias string
}

var passwordSettings = []setting{{Key: "username"}, {Key: "password", Required: true}}

// v2Providers are the v2 provider names, in the order they are listed to
// people: nylas-v3-api.md §9 (the Java and Node v2 SDKs' names, graph
// from API v2.3, nylas for virtual calendars).
var v2Providers = []v2Provider{
	{Name: "gmail", Provider: provider.Google, Kind: kindGoogle, Settings: []setting{
		{Key: "google_client_id", Required: true}, {Key: "google_client_secret", Required: true}, {Key: "google_refresh_token", Required: true}}},
	{Name: "office365", Provider: provider.Microsoft, Kind: kindMicrosoft, Settings: microsoftSettings},
	{Name: "graph", Provider: provider.Microsoft, Kind: kindMicrosoft, Settings: microsoftSettings},
	{Name: "exchange", Provider: provider.EWS, Kind: kindExchange, Settings: []setting{
		{Key: "username", Required: true}, {Key: "password", Required: true}, {Key: "exchange_server_host", Alias: "eas_server_host"}}},
	{Name: "imap", Provider: provider.IMAP, Kind: kindIMAP, Settings: []setting{
		{Key: "imap_host"}, {Key: "imap_port", Type: port}, {Key: "imap_username", Required: true}, {Key: "imap_password", Required: true},
		{Key: "smtp_host"}, {Key: "smtp_port", Type: port}, {Key: "smtp_username"}, {Key: "smtp_password"},
		{Key: "ssl_required", Type: flag}}},
	{Name: "yahoo", Provider: provider.IMAP, Kind: kindMailService, Servers: "yahoo", Settings: passwordSettings},
	{Name: "aol", Provider: provider.IMAP, Kind: kindMailService, Servers: "aol", Settings: passwordSettings},
	{Name: "hotmail", Provider: provider.IMAP, Kind: kindMailService, Servers: "microsoft", Settings: passwordSettings},
	{Name: "outlook", Provider: provider.IMAP, Kind: kindMailService, Servers: "microsoft", Settings: passwordSettings},
	{Name: "icloud", Provider: provider.ICloud, Kind: kindICloud, Settings: passwordSettings},
	{Name: "nylas", Provider: provider.VirtualCalendar, Kind: kindVirtualCalendar},
}

var microsoftSettings = []setting{
	{Key: "microsoft_client_id", Required: true}, {Key: "microsoft_client_secret", Required: true},
	{Key: "microsoft_refresh_token", Required: true}, {Key: "redirect_uri", Required: true}}

// V2ProviderNames lists the v2 provider names.
func V2ProviderNames() []string {
	out := make([]string, len(v2Providers))
	for i, p := range v2Providers {
		out[i] = p.Name
	}
	return out
}

// MailServices lists the v2 providers that log in to a mail service's
// IMAP and SMTP servers named in detection's table (yahoo, aol, hotmail,
// outlook): `grantd dev` makes a user of its mail stand-in for each.
func MailServices() []string {
	var out []string
	for _, p := range v2Providers {
		if p.Kind == kindMailService {
			out = append(out, p.Name)
		}
	}
	return out
}

func lookupProvider(name string) (v2Provider, bool) {
	i := slices.IndexFunc(v2Providers, func(p v2Provider) bool { return p.Name == name })
	if i < 0 {
		return v2Provider{}, false
	}
	return v2Providers[i], true
}

// organizationUnit is the v2 account's organization_unit: Gmail has
// labels, every other provider folders.
func (p v2Provider) organizationUnit() string {
	if p.Kind == kindGoogle {
		return "label"
	}
	return "folder"
}

// v2Scopes are the v2 scopes (nylas-v3-api.md §10) and what each means for
// the v3 providers that have scopes. Google scopes are relative to
// https://www.googleapis.com/auth/ unless they are URLs; IMAP and iCloud
// grants have no scopes, and virtual calendars only "calendar".
var v2Scopes = []struct {
	Name                             string
	Google, Microsoft, EWS, Calendar []string
}{
	{"email", []string{"https://mail.google.com/"}, []string{"Mail.ReadWrite", "Mail.Send"}, []string{"ews.messages"}, nil},
	{"email.modify", []string{"gmail.modify"}, []string{"Mail.ReadWrite"}, []string{"ews.messages"}, nil},
	{"email.read_only", []string{"gmail.readonly"}, []string{"Mail.Read"}, []string{"ews.messages"}, nil},
	{"email.send", []string{"gmail.send"}, []string{"Mail.Send"}, []string{"ews.messages"}, nil},
	{"email.folders_and_labels", []string{"gmail.labels"}, []string{"Mail.ReadWrite"}, []string{"ews.messages"}, nil},
	{"email.metadata", []string{"gmail.metadata"}, []string{"Mail.ReadBasic"}, []string{"ews.messages"}, nil},
	{"email.drafts", []string{"gmail.compose"}, []string{"Mail.ReadWrite"}, []string{"ews.messages"}, nil},
	{"calendar", []string{"calendar"}, []string{"Calendars.ReadWrite"}, []string{"ews.calendars"}, []string{"calendar"}},
	{"calendar.read_only", []string{"calendar.readonly"}, []string{"Calendars.Read"}, []string{"ews.calendars"}, []string{"calendar"}},
	{"calendar.free_busy", []string{"calendar.freebusy"}, []string{"Calendars.ReadBasic"}, []string{"ews.calendars"}, []string{"calendar"}},
	{"room_resources.read_only", []string{"admin.directory.resource.calendar.readonly"}, []string{"Place.Read.All"}, nil, nil},
	{"contacts", []string{"contacts"}, []string{"Contacts.ReadWrite"}, []string{"ews.contacts"}, nil},
	{"contacts.read_only", []string{"contacts.readonly"}, []string{"Contacts.Read"}, []string{"ews.contacts"}, nil},
}

const googleScopePrefix = "https://www.googleapis.com/auth/"

// mapScopes maps a comma-separated v2 scope string onto the scopes of v3
// provider prov, without duplicates, in order. nil (the connector's
// default scopes) when raw names none, or when prov has no scopes.
func mapScopes(raw, prov string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(raw, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(v2Scopes, func(s struct {
			Name                             string
			Google, Microsoft, EWS, Calendar []string
		}) bool {
			return s.Name == name
		})
		if i < 0 {
			return nil, invalidf("scopes: %q is not a v2 scope; the v2 scopes are %s", fault.Shorten(name, 64), strings.Join(V2ScopeNames(), ", "))
		}
		var v3 []string
		switch prov {
		case provider.Google:
			for _, s := range v2Scopes[i].Google {
				if !strings.HasPrefix(s, "https://") {
					s = googleScopePrefix + s
				}
				v3 = append(v3, s)
			}
		case provider.Microsoft:
			v3 = v2Scopes[i].Microsoft
		case provider.EWS:
			v3 = v2Scopes[i].EWS
		case provider.VirtualCalendar:
			v3 = v2Scopes[i].Calendar
			if v3 == nil {
				return nil, invalidf("scopes: a virtual calendar (provider nylas) takes only the calendar scopes, not %q", name)
			}
		default:
			continue // IMAP and iCloud grants have no scopes
		}
		for _, s := range v3 {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// V2ScopeNames lists the v2 scopes.
func V2ScopeNames() []string {
	out := make([]string, len(v2Scopes))
	for i, s := range v2Scopes {
		out[i] = s.Name
	}
	return out
}

func settingKeys(ss []setting) string {
	if len(ss) == 0 {
		return "none"
	}
	keys := make([]string, len(ss))
	for i, s := range ss {
		keys[i] = s.Key
		if s.Required {
			keys[i] += " (required)"
		}
	}
	return strings.Join(keys, ", ")
}
