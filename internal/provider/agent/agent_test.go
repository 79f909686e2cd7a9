package agent_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/agent"
	"github.com/grantd/grantd/internal/provider/providertest"
)

// domains is a table of domain states per application.
type domains map[string]agent.DomainState // "app/domain" → state

func (d domains) DomainState(_ context.Context, appID, address string) (agent.DomainState, error) {
	return d[appID+"/"+address], nil
}

const goodPassword = "Correct-Horse-42-Battery"

func TestCheckPassword(t *testing.T) {
	for _, pw := range []string{goodPassword, "aaaaaaaaaaaaaaaaA1", strings.Repeat("aB3", 13) + "x", "!\"#$%&'()*+,-./:;<Aa1~"} {
		if err := agent.CheckPassword(pw); err != nil {
			t.Errorf("%q: %v", pw, err)
		}
	}
	for _, tc := range []struct{ pw, want string }{
		{"Short1a", "is 7 characters long; an app password has 18 to 40"},
		{strings.Repeat("aB3", 14), "is 42 characters long"},
		{"Has Space In It 123", "not printable ASCII or is a space (character 4)"},
		{"Ünicode-Password-123", "not printable ASCII"},
		{"tab\there-Password-123", "not printable ASCII"},
		{"all-lower-case-pass-1", "it lacks an upper-case letter"},
		{"ALL-UPPER-CASE-PASS-1", "it lacks a lower-case letter"},
		{"No-Digits-In-This-One", "it lacks a digit"},
		{"------------------------", "it lacks an upper-case letter and a lower-case letter and a digit"},
	} {
		err := agent.CheckPassword(tc.pw)
		pe := providertest.Class(t, err, provider.ClassBadRequest)
		if !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%q: %q lacks %q", tc.pw, pe.Message, tc.want)
		}
		if strings.Contains(pe.Message, tc.pw) {
			t.Errorf("%q: the message repeats the password", tc.pw)
		}
	}
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	p := agent.New(domains{
		"app/agents.example.com": {Registered: true, ID: "d1", Ownership: true, MX: true},
		"app/half.example.com":   {Registered: true, ID: "d2", Ownership: true},
		"app/new.example.com":    {Registered: true, ID: "d3"},
		"app/dns.example.com":    {Registered: true, ID: "d4", MX: true},
		"other/their.example":    {Registered: true, ID: "d5", Ownership: true, MX: true},
	}, bcrypt.MinCost)
	res, err := p.Validate(ctx, provider.Request{AppID: "app", Settings: map[string]any{"email": " Bot@Agents.Example.com ", "app_password": goodPassword, "policy_id": "pol-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != "Bot@agents.example.com" || res.Settings["email"] != res.Email || res.Settings["policy_id"] != "pol-1" || len(res.Settings) != 2 {
		t.Errorf("result: %+v", res)
	}
	h := res.Secrets[agent.SecretHash]
	if len(res.Secrets) != 1 || bcrypt.CompareHashAndPassword([]byte(h), []byte(goodPassword)) != nil || strings.Contains(h, goodPassword) {
		t.Errorf("secrets: %v", res.Secrets)
	}
	ok, err := p.VerifyPassword(ctx, "app", res.Email, res.Secrets, goodPassword)
	if err != nil || !ok {
		t.Errorf("the right password: %v %v", ok, err)
	}
	for _, tc := range []struct {
		app, email, pw string
		secrets        map[string]string
	}{
		{"app", res.Email, goodPassword + "x", res.Secrets},
		{"app", res.Email, "", res.Secrets},
		{"app", res.Email, strings.Repeat("x", 100), res.Secrets},
		{"app", res.Email, goodPassword, nil},
		{"app", res.Email, goodPassword, map[string]string{}},
		{"other", res.Email, goodPassword, res.Secrets}, // the domain is not the other application's
		{"app", "bot@half.example.com", goodPassword, res.Secrets},
	} {
		if ok, err := p.VerifyPassword(ctx, tc.app, tc.email, tc.secrets, tc.pw); ok || err != nil {
			t.Errorf("%s %s %q: %v %v", tc.app, tc.email, tc.pw, ok, err)
		}
	}
	// Without a password: no secret at all.
	res, err = p.Validate(ctx, provider.Request{AppID: "app", Settings: map[string]any{"email": "bot2@agents.example.com"}})
	if err != nil || len(res.Secrets) != 0 || len(res.Settings) != 1 {
		t.Errorf("no password: %+v %v", res, err)
	}

	for _, tc := range []struct {
		app      string
		settings map[string]any
		want     string
	}{
		{"app", map[string]any{}, "settings.email is required"},
		{"app", map[string]any{"email": 7}, "settings.email must be a string"},
		{"app", map[string]any{"email": "not an address"}, "settings.email is not an email address"},
		{"app", map[string]any{"email": "bot@agents.example.com", "app_password": "weak"}, "is 4 characters long"},
		{"app", map[string]any{"email": "bot@agents.example.com", "app_password": ""}, "is 0 characters long"},
		{"app", map[string]any{"email": "bot@agents.example.com", "app_password": 12}, "settings.app_password must be a string"},
		{"app", map[string]any{"email": "bot@nowhere.example.com"}, "is not on a domain of this application: register nowhere.example.com"},
		{"app", map[string]any{"email": "bot@their.example"}, "is not on a domain of this application"},
		{"app", map[string]any{"email": "bot@eu.agents.example.com"}, "is not on the domain agents.example.com but on its subdomain eu.agents.example.com"},
		{"app", map[string]any{"email": "bot@half.example.com"}, "the MX record of the domain half.example.com of settings.email is not verified"},
		{"app", map[string]any{"email": "bot@dns.example.com"}, "the ownership of the domain dns.example.com of settings.email is not verified"},
		{"app", map[string]any{"email": "bot@new.example.com"}, "the domain new.example.com of settings.email is not verified: publish its ownership TXT record and MX record (POST /v3/admin/domains/d3/info)"},
	} {
		_, err := p.Validate(ctx, provider.Request{AppID: tc.app, Settings: tc.settings})
		pe := providertest.Class(t, err, provider.ClassBadRequest)
		if !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.settings, pe.Message, tc.want)
		}
	}
	// grantd import's dry run checks the settings without a domain registry.
	dry := agent.New(nil, bcrypt.MinCost)
	if email, err := dry.CheckSettings(map[string]any{"email": "Bot@Agents.example.com", "app_password": goodPassword}); err != nil || email != "Bot@agents.example.com" {
		t.Errorf("CheckSettings: %q %v", email, err)
	}
	if _, err := dry.CheckSettings(map[string]any{"email": "bot@agents.example.com", "app_password": "weak"}); err == nil {
		t.Error("CheckSettings took a weak password")
	}
	if _, err := dry.Validate(ctx, provider.Request{AppID: "app", Settings: map[string]any{"email": "bot@agents.example.com"}}); err == nil {
		t.Error("Validate without a domain registry succeeded")
	}
}
