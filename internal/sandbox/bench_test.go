package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTokenAndIdentity measures one refresh_token grant plus one
// identity call over loopback with a pooled client, from parallel
// goroutines. Each goroutine follows its own token chain, so rotating
// providers are measured too.
func BenchmarkTokenAndIdentity(b *testing.B) {
	for _, c := range []struct {
		name, provider string
		scopes         []string
	}{
		{"google", Google, []string{"email", "profile"}},
		{"google-openid", Google, []string{"openid", "email"}}, // RS256-signed id_token
		{"microsoft-grace", Microsoft, []string{"User.Read"}},
		{"zoom-strict", Zoom, []string{"user:read"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := start(b)
			s.AddClient(c.provider, "bench", "secret")
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
			defer client.CloseIdleConnections()
			tokenURL, idURL := tokenURL(s, c.provider), identityURL(s, c.provider)
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				email := fmt.Sprintf("bench%d@example.com", n.Add(1))
				s.AddUser(c.provider, User{Email: email})
				rt, err := s.MintRefreshToken(c.provider, "bench", email, c.scopes)
				if err != nil {
					b.Error(err)
					return
				}
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("bench", "secret")
					var tok struct {
						AccessToken  string `json:"access_token"`
						RefreshToken string `json:"refresh_token"`
					}
					if err := call(client, req, 200, &tok); err != nil {
						b.Error(err)
						return
					}
					if tok.RefreshToken != "" {
						rt = tok.RefreshToken
					}
					req, _ = http.NewRequest(http.MethodGet, idURL, nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					if err := call(client, req, 200, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func call(c *http.Client, req *http.Request, want int, v any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: status %d: %s", req.URL.Path, resp.StatusCode, body)
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}
