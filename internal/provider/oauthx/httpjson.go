package oauthx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

// maxBody bounds what is read of a provider answer.
const maxBody = 1 << 20

// HTTPError is a non-2xx answer to FetchJSON.
type HTTPError struct {
	Status int
	Header http.Header
	Body   []byte // at most 1 MiB
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d", e.Status) }

// errDecode marks a 2xx answer that is not the expected JSON.
var errDecode = errors.New("invalid JSON answer")

// FetchJSON GETs rawURL, with "Authorization: Bearer bearer" when bearer is
// not empty, and decodes a 2xx JSON answer into out. It returns the answer's
// header. Errors: *HTTPError for a non-2xx answer, an error wrapping
// errDecode for an undecodable one, the client's error (*url.Error)
// otherwise.
func FetchJSON(ctx context.Context, hc *http.Client, rawURL, bearer string, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := Client(hc).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPError{Status: resp.StatusCode, Header: resp.Header, Body: body}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("%w: %v", errDecode, err)
	}
	return resp.Header, nil
}

// GetJSON calls an identity endpoint (what names it in messages, "userinfo
// endpoint") with the access token and decodes its JSON answer into out.
// Errors are classified (IdentityError for non-2xx answers, with
// s.Unauthorized as the class of a plain 401) and redacted.
func (s *Session) GetJSON(ctx context.Context, what, rawURL, accessToken string, out any) error {
	err := s.getJSON(ctx, what, rawURL, accessToken, out)
	if !s.rotated || provider.ClassOf(err) != provider.ClassUnavailable {
		return err
	}
	// The provider rotated the refresh token when we redeemed it (Zoom
	// strictly: the caller's token is now dead), so giving up on a
	// transient identity failure would lose the user's only valid token.
	// Try again a few times while the request's deadline allows.
	for _, wait := range rotatedRetryWaits {
		select {
		case <-ctx.Done():
			return s.rotatedLost(err)
		case <-time.After(wait):
		}
		if err = s.getJSON(ctx, what, rawURL, accessToken, out); provider.ClassOf(err) != provider.ClassUnavailable {
			return err
		}
	}
	return s.rotatedLost(err)
}

// rotatedRetryWaits are the pauses before the identity retries of a
// session whose refresh token was rotated.
var rotatedRetryWaits = []time.Duration{200 * time.Millisecond, 800 * time.Millisecond}

// rotatedLost adds to a transient failure that the caller's refresh token
// may no longer work, so that nobody retries in vain.
func (s *Session) rotatedLost(err error) error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		pe.Message += fmt.Sprintf("; note that %s rotated the refresh token while grantd checked it, so the token sent may no longer be valid: if a retry is refused, ask the user to sign in again", s.Provider)
	}
	return err
}

func (s *Session) getJSON(ctx context.Context, what, rawURL, accessToken string, out any) error {
	_, err := FetchJSON(ctx, s.hc, rawURL, accessToken, out)
	if err == nil {
		return nil
	}
	var he *HTTPError
	if errors.As(err, &he) {
		unauth := s.Unauthorized
		if unauth == "" {
			unauth = provider.ClassInvalidCredentials
		}
		return s.IdentityError(what, he.Status, he.Header, he.Body, unauth)
	}
	return s.ServiceError(ctx, what, err)
}

// ServiceError classifies a failure of FetchJSON on an endpoint that does
// not judge the user's credentials (a JWKS document): any answer that is
// not the expected JSON is ClassUnavailable; transport failures are
// classified by TransportError.
func (s *Session) ServiceError(ctx context.Context, what string, err error) error {
	var he *HTTPError
	switch {
	case errors.As(err, &he):
		pe := ParseProviderError(what, he.Status, he.Header.Get("Content-Type"), he.Body)
		return s.redact(&provider.Error{
			Class:         provider.ClassUnavailable,
			Message:       fmt.Sprintf("%s's %s is failing (%s); the provider is unavailable, try again later", s.Provider, what, Words(pe)),
			ProviderError: pe,
			Err:           &causeErr{msg: fmt.Sprintf("%s: HTTP %d", what, he.Status)},
			Answered:      true,
		})
	case errors.Is(err, errDecode):
		return s.redact(&provider.Error{
			Class:    provider.ClassUnavailable,
			Message:  fmt.Sprintf("%s's %s returned an answer that is not the expected JSON; the provider may be failing, try again later", s.Provider, what),
			Err:      err,
			Answered: true,
		})
	}
	return s.TransportError(ctx, what, err)
}
