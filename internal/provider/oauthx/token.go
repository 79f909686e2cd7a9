package oauthx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// TokenEndpoint is where and how refresh tokens are redeemed.
type TokenEndpoint struct {
	URL string
	// AuthStyle is how the client authenticates; always set it (InParams or
	// InHeader) so that x/oauth2 does not probe with a second request.
	AuthStyle oauth2.AuthStyle
}

// Redeem exchanges the session's refresh token for an access token at ep.
// params are extra form fields of the refresh request (Microsoft's scope);
// x/oauth2 has no way to add them, so they are added to the form body by
// the transport. On success the new access token (and a rotated refresh
// token) join the session's secrets; on failure the error is a classified,
// redacted *provider.Error.
func (s *Session) Redeem(ctx context.Context, ep TokenEndpoint, params url.Values) (*oauth2.Token, error) {
	var extra http.RoundTripper
	if len(params) > 0 {
		extra = &formParams{params: params}
	}
	tok, err := s.fetch(ctx, extra, func(ctx context.Context) (*oauth2.Token, error) {
		conf := &oauth2.Config{
			ClientID:     s.client.ClientID,
			ClientSecret: s.client.ClientSecret,
			Endpoint:     oauth2.Endpoint{TokenURL: ep.URL, AuthStyle: ep.AuthStyle},
		}
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refreshToken}).Token()
	})
	if err != nil {
		return nil, err
	}
	s.rotated = tok.RefreshToken != "" && tok.RefreshToken != s.refreshToken
	return tok, nil
}

// NewSession returns a session for a token request that redeems no
// refresh token: one made with the application's own credential (a
// service account's signed assertion, Microsoft's client credentials).
// secrets are what the session must never show (the private key, the
// client secret); the client's secret is added.
func NewSession(o Options, hc *http.Client, client provider.Client, secrets ...string) *Session {
	s := &Session{Options: o, hc: Client(hc), client: client}
	s.addSecret(client.ClientSecret)
	for _, v := range secrets {
		s.addSecret(v)
	}
	s.red.AddEncoded(provider.BasicAuth(client.ClientID, client.ClientSecret),
		provider.BasicAuth(url.QueryEscape(client.ClientID), url.QueryEscape(client.ClientSecret)))
	return s
}

// AddSecret adds v to what the session's errors are scrubbed of.
func (s *Session) AddSecret(v string) { s.addSecret(v) }

// Fetch runs fetch, an x/oauth2 token request (a jwt.Config's or a
// clientcredentials.Config's Token, with ctx as its context), with the
// session's HTTP client under the rules of Redeem: the client's timeout
// as a deadline with a grace, no redirects, every failure a classified,
// redacted *provider.Error, the new access token added to the session's
// secrets.
func (s *Session) Fetch(ctx context.Context, fetch func(ctx context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	return s.fetch(ctx, nil, fetch)
}

func (s *Session) fetch(ctx context.Context, extra http.RoundTripper, fetch func(ctx context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	c := *s.hc
	if c.Timeout > 0 {
		// The client's timeout becomes a context deadline with a grace:
		// an answer that arrived while the process was paused past the
		// timeout is read, not dropped (at a rotating provider the old
		// refresh token is already dead).
		var cancel context.CancelFunc
		ctx, cancel = netx.WithGraceTimeout(ctx, c.Timeout, netx.ResumeGrace)
		defer cancel()
		c.Timeout = 0
	}
	// A token endpoint does not redirect; following a 307/308 would send
	// the refresh token and the client secret wherever it points.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Some token sources (x/oauth2/jwt) flatten transport errors into
	// text: remember the last one so that it is classified as such.
	rec := &transportErr{base: c.Transport}
	if fp, ok := extra.(*formParams); ok {
		fp.base = rec
		c.Transport = fp
	} else {
		c.Transport = rec
	}
	tok, err := fetch(context.WithValue(ctx, oauth2.HTTPClient, &c))
	if err != nil {
		var re *oauth2.RetrieveError
		if te := rec.get(); te != nil && !errors.As(err, &re) {
			err = te
		}
		return nil, s.redact(s.classifyToken(ctx, err))
	}
	s.addSecret(tok.AccessToken)
	s.addSecret(tok.RefreshToken)
	if idt, ok := tok.Extra("id_token").(string); ok {
		s.addSecret(idt)
	}
	return tok, nil
}

// transportErr records the last transport error of the requests through
// it.
type transportErr struct {
	base http.RoundTripper
	mu   sync.Mutex
	err  error
}

func (t *transportErr) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		t.mu.Lock()
		t.err = &url.Error{Op: req.Method, URL: req.URL.Scheme + "://" + req.URL.Host + req.URL.Path, Err: err}
		t.mu.Unlock()
	}
	return resp, err
}

func (t *transportErr) get() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// formParams adds params to the form body of POST requests.
type formParams struct {
	base   http.RoundTripper
	params url.Values
}

func (t *formParams) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Method != http.MethodPost || req.Body == nil ||
		!strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for k, v := range t.params {
		form[k] = append([]string(nil), v...)
	}
	enc := form.Encode()
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(strings.NewReader(enc))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	r2.ContentLength = int64(len(enc))
	return base.RoundTrip(r2)
}
