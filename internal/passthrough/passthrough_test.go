package passthrough_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/passthrough"
	"github.com/grantd/grantd/internal/sandbox"
)

// The pass-through makes the token call and the identity call, with the
// client's credentials where the provider wants them, and nothing more.
func TestPassThrough(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sp := sb.Providers()
	for _, c := range []struct {
		prov                  string
		tokenURL, userinfoURL string
		basic                 bool
		scopes                []string
	}{
		{sandbox.Google, sp.Google.TokenURL, sp.Google.UserinfoURL, false, []string{"https://www.googleapis.com/auth/userinfo.email"}},
		{sandbox.Yahoo, sp.Yahoo.TokenURL, sp.Yahoo.UserinfoURL, true, []string{"openid", "email"}},
	} {
		t.Run(c.prov, func(t *testing.T) {
			sb.AddClient(c.prov, "app", "pw")
			sb.AddUser(c.prov, sandbox.User{Email: "ada@example.com"})
			rt, err := sb.MintRefreshToken(c.prov, "app", "ada@example.com", c.scopes)
			if err != nil {
				t.Fatal(err)
			}
			h := &passthrough.Handler{Client: http.DefaultClient, Provider: c.prov, TokenURL: c.tokenURL, UserinfoURL: c.userinfoURL, ClientID: "app", Secret: "pw", BasicAuth: c.basic}
			ts := httptest.NewServer(h)
			defer ts.Close()
			post := func(token string) (int, map[string]any) {
				resp, err := http.Post(ts.URL+"/v3/connect/custom", "application/json", strings.NewReader(`{"provider":"`+c.prov+`","settings":{"refresh_token":"`+token+`"}}`))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var out struct {
					Data map[string]any `json:"data"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				return resp.StatusCode, out.Data
			}
			before := sb.Counters(c.prov)
			st, data := post(rt)
			after := sb.Counters(c.prov)
			if st != http.StatusCreated || data["email"] != "ada@example.com" || data["provider"] != c.prov {
				t.Errorf("answer %d %v", st, data)
			}
			if after.Redemptions-before.Redemptions != 1 || after.IdentityCalls-before.IdentityCalls != 1 || after.Rejections != before.Rejections {
				t.Errorf("provider calls: before %+v, after %+v", before, after)
			}
			if st, _ := post("not-a-token"); st != http.StatusBadGateway {
				t.Errorf("refused token: status %d", st)
			}
		})
	}
}
