package oauthx

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/netx"
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
	if len(params) > 0 {
		c.Transport = &formParams{base: c.Transport, params: params}
	}
	hc := &c
	conf := &oauth2.Config{
		ClientID:     s.client.ClientID,
		ClientSecret: s.client.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: ep.URL, AuthStyle: ep.AuthStyle},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refreshToken}).Token()
	if err != nil {
		return nil, s.redact(s.classifyToken(ctx, err))
	}
	s.addSecret(tok.AccessToken)
	s.addSecret(tok.RefreshToken)
	s.rotated = tok.RefreshToken != "" && tok.RefreshToken != s.refreshToken
	if idt, ok := tok.Extra("id_token").(string); ok {
		s.addSecret(idt)
	}
	return tok, nil
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
