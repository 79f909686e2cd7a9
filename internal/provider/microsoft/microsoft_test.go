package microsoft_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/microsoft"
	"github.com/grantd/grantd/internal/provider/oauthx/oauthxtest"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

var suite = oauthxtest.Suite{
	Provider: sandbox.Microsoft,
	New: func(p providers.Config, hc *http.Client) provider.Provider {
		return microsoft.New(p.Microsoft, hc)
	},
	Scopes:       []string{"openid", "profile", "email", "offline_access", "User.Read", "Mail.Read", "Calendars.ReadWrite"},
	ReportsScope: true,
	RevokedError: "invalid_grant",
	Identity401:  provider.ClassInvalidCredentials,
}

func TestSandboxConformance(t *testing.T) { suite.Run(t) }

func TestRotationPersisted(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "grace", true: "strict"}[strict], func(t *testing.T) {
			e := suite.NewEnv(t)
			if strict {
				e.SB.SetRotation(sandbox.Microsoft, sandbox.Rotation{Mode: sandbox.RotateStrict})
			}
			rt := e.Mint(t, nil)
			res, err := e.Provider(0).Validate(context.Background(), e.Request(rt))
			if err != nil {
				t.Fatal(err)
			}
			e.CheckSuccess(t, res, suite.Scopes)
			if res.Secrets["refresh_token"] == rt {
				t.Fatal("Result.Secrets keeps the redeemed refresh token, not the rotated one")
			}
			if got := e.SB.IsValidRefreshToken(sandbox.Microsoft, rt); got == strict {
				t.Errorf("original token valid = %v with strict = %v", got, strict)
			}
		})
	}
}

func TestRequestedScopes(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, nil)
	req := e.Request(rt)
	req.Scope = []string{"openid", "User.Read", "Mail.Read"}
	res, err := e.Provider(0).Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The access token is narrowed to the requested scopes, offline_access
	// added so that a refresh token comes back.
	e.CheckSuccess(t, res, []string{"openid", "User.Read", "Mail.Read", "offline_access"})

	rt2 := res.Secrets["refresh_token"]
	req = e.Request(rt2)
	req.Scope = []string{"User.Read", "Mail.Send"}
	_, err = e.Provider(0).Validate(context.Background(), req)
	pe := providertest.Class(t, err, provider.ClassMissingScope)
	if !strings.Contains(pe.Message, "Mail.Send") {
		t.Errorf("message %q does not name the scope", pe.Message)
	}
	if codes, _ := pe.ProviderError["error_codes"].([]any); !slices.Contains(codes, any(int64(65001))) {
		t.Errorf("error_codes = %v", pe.ProviderError["error_codes"])
	}
	providertest.NoSecrets(t, err, rt, rt2, oauthxtest.ClientSecret)
}

func TestTenants(t *testing.T) {
	e := suite.NewEnv(t)
	u := e.SB.AddUser(sandbox.Microsoft, sandbox.User{Email: "grace@contoso.example", Name: "Grace Hopper", Tenant: "contoso-tenant-id"})
	rt, err := e.SB.MintRefreshToken(sandbox.Microsoft, oauthxtest.ClientID, u.Email, suite.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v := e.Provider(0)

	req := e.Request(rt)
	req.Client.Tenant = "contoso-tenant-id"
	res, err := v.Validate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != u.Email || res.ProviderUserID != u.ID {
		t.Errorf("identity = %q %q", res.Email, res.ProviderUserID)
	}

	req = e.Request(res.Secrets["refresh_token"])
	req.Client.Tenant = "unknown-tenant"
	_, err = v.Validate(ctx, req)
	// An unknown tenant is the connector's configuration, not the user's
	// token: invalid_client, which keeps grants valid when refreshing.
	pe := providertest.Class(t, err, provider.ClassInvalidClient)
	if !strings.Contains(pe.Message, "AADSTS90002") || !strings.Contains(pe.Message, "tenant") {
		t.Errorf("message = %q", pe.Message)
	}

	req.Client.Tenant = "../admin"
	_, err = v.Validate(ctx, req)
	providertest.Class(t, err, provider.ClassBadRequest)
}

func TestMailFallsBackToUPN(t *testing.T) {
	var gotPath string
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
			gotPath = r.URL.Path
			_ = r.ParseForm()
			form = r.PostForm
			_, _ = w.Write([]byte(`{"access_token":"at-1","refresh_token":"rt-2","expires_in":3600,"scope":"User.Read"}`))
		case r.URL.Path == "/graph/me":
			_, _ = w.Write([]byte(`{"id":"oid-1","displayName":"Alan Turing","mail":null,"userPrincipalName":"alan@contoso.example"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	v := microsoft.New(microsoft.Config{LoginURL: srv.URL + "/login/", GraphURL: srv.URL + "/graph"}, srv.Client())
	res, err := v.Validate(context.Background(), provider.Request{
		Settings: map[string]any{"refresh_token": "rt-1"},
		Client:   provider.Client{ClientID: "cid", ClientSecret: "cs"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != "alan@contoso.example" || res.Name != "Alan Turing" || res.ProviderUserID != "oid-1" {
		t.Errorf("result = %+v", res)
	}
	if gotPath != "/login/common/oauth2/v2.0/token" {
		t.Errorf("token path = %q, want the common tenant", gotPath)
	}
	if form.Get("client_secret") != "cs" || form.Has("scope") {
		t.Errorf("form = %v (no scope requested, none sent)", form)
	}
}

func TestRefreshScope(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"Mail.Read"}, "Mail.Read offline_access"},
		{[]string{"Mail.Read", "OFFLINE_ACCESS"}, "Mail.Read OFFLINE_ACCESS"},
		{[]string{"Mail.Read User.Read", "Mail.Read"}, "Mail.Read User.Read offline_access"},
	} {
		if got := microsoft.RefreshScope(tc.in); got != tc.want {
			t.Errorf("RefreshScope(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Entra's own codes (AADSTS) decide the class where the OAuth error code
// alone would mislead, and some of them get Microsoft's explanation.
func TestTokenErrorClassification(t *testing.T) {
	const js = "application/json"
	rt := "M.C5_rt-SECRET-refresh"
	client := provider.Client{ClientID: "client-1", ClientSecret: "cs-SECRET-client"}
	oauthxtest.RunTokenErrors(t, "Microsoft", []string{rt, client.ClientSecret}, func(u string, hc *http.Client) error {
		_, err := microsoft.New(microsoft.Config{LoginURL: u}, hc).Refresh(context.Background(), client, rt, nil)
		return err
	}, []oauthxtest.TokenErrorCase{
		{Name: "microsoft 700082 in description only", Status: 400, CType: js,
			Body:  `{"error":"interaction_required","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`,
			Class: provider.ClassInvalidCredentials, Msg: "invalid_grant"},
		{Name: "microsoft 65001 consent", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented","error_codes":[65001]}`,
			Class: provider.ClassMissingScope, Msg: "consent"},
		{Name: "Entra throttling (AADSTS50196 as invalid_grant) is transient", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop.","error_codes":[50196]}`,
			Class: provider.ClassUnavailable},
		{Name: "Entra unknown tenant is the client's configuration", Status: 400, CType: js,
			Body:  `{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.","error_codes":[90002]}`,
			Class: provider.ClassInvalidClient, Msg: "tenant"},
		{Name: "Entra invalid tenant identifier is the client's configuration", Status: 400, CType: js,
			Body:  `{"error":"invalid_request","error_description":"AADSTS900023: Specified tenant identifier 'x y' is neither a valid DNS name, nor a valid external domain.","error_codes":[900023]}`,
			Class: provider.ClassInvalidClient, Msg: "tenant"},
		{Name: "Entra MFA required says so", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.","error_codes":[50076]}`,
			Class: provider.ClassInvalidCredentials, Msg: "multi-factor authentication"},
		{Name: "Entra conditional access says so", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies.","error_codes":[53003]}`,
			Class: provider.ClassInvalidCredentials, Msg: "conditional access policy"},
	})
}
