package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ReauthenticatedHeader is the header of grantd's answer to
// POST /v3/connect/custom that says whether the grant existed (true) or
// was created (false).
const ReauthenticatedHeader = "Grantd-Reauthenticated"

// HTTPSender sends lines to a grantd over HTTP: POST /v3/connect/custom
// with an API key, the path every other create takes.
type HTTPSender struct {
	URL    string // grantd's base URL
	APIKey string
	Client *http.Client
	// UserAgent identifies the importer in grantd's access log.
	UserAgent string
}

// NewHTTPClient is a client for conns concurrent requests, each bounded by
// timeout.
func NewHTTPClient(conns int, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = conns+4, conns+4
	return &http.Client{Transport: t, Timeout: timeout}
}

// apiAnswer is grantd's envelope.
type apiAnswer struct {
	Data struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		CreatedAt int64  `json:"created_at"`
		UpdatedAt int64  `json:"updated_at"`
	} `json:"data"`
	Error *struct {
		Type          string         `json:"type"`
		Message       string         `json:"message"`
		ProviderError map[string]any `json:"provider_error"`
	} `json:"error"`
}

// Send implements Sender.
func (h *HTTPSender) Send(ctx context.Context, it *Item) (Result, error) {
	status, hdr, ans, err := h.do(ctx, http.MethodPost, "/v3/connect/custom", it.Body)
	if err != nil {
		return Result{}, err
	}
	if status == http.StatusOK || status == http.StatusCreated {
		if ans.Data.ID == "" {
			return Result{}, &SendError{Kind: Transient, Info: ErrorInfo{Type: TypeUnreachable, Status: status, Message: "grantd's answer has no grant id"}}
		}
		res := Result{GrantID: ans.Data.ID, Email: ans.Data.Email}
		switch v := hdr.Get(ReauthenticatedHeader); v {
		case "true", "false":
			res.Reauthenticated = v == "true"
		default: // a grantd from before the header
			res.Reauthenticated = ans.Data.UpdatedAt > ans.Data.CreatedAt
		}
		return res, nil
	}
	return Result{}, answerError(status, hdr, ans)
}

// Check asks grantd for the key's application: it fails at once, before
// any line, on a wrong URL or key.
func (h *HTTPSender) Check(ctx context.Context) error {
	status, hdr, ans, err := h.do(ctx, http.MethodGet, "/v3/applications", nil)
	if err != nil {
		return fmt.Errorf("cannot reach grantd at %s: %w", h.URL, err)
	}
	if status != http.StatusOK {
		e := answerError(status, hdr, ans)
		return fmt.Errorf("grantd at %s answered GET /v3/applications with %d %s: %s", h.URL, status, e.Info.Type, e.Info.Message)
	}
	return nil
}

func (h *HTTPSender) do(ctx context.Context, method, path string, body []byte) (int, http.Header, apiAnswer, error) {
	var ans apiAnswer
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(h.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, ans, &SendError{Kind: Fatal, Info: ErrorInfo{Type: TypeUnreachable, Message: "bad grantd URL: " + err.Error()}}
	}
	req.Header.Set("Authorization", "Bearer "+h.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.UserAgent != "" {
		req.Header.Set("User-Agent", h.UserAgent)
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		// The error names the URL and the network failure, never the body.
		return 0, nil, ans, &SendError{Kind: Transient, Info: ErrorInfo{Type: TypeUnreachable, Message: "no answer from grantd: " + networkError(err)}}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, ans, &SendError{Kind: Transient, Info: ErrorInfo{Type: TypeUnreachable, Status: resp.StatusCode, Message: "grantd's answer was cut short: " + networkError(err)}}
	}
	if json.Unmarshal(raw, &ans) != nil && resp.StatusCode < 500 {
		return 0, nil, ans, &SendError{Kind: Fatal, Info: ErrorInfo{Type: TypeUnreachable, Status: resp.StatusCode,
			Message: fmt.Sprintf("the answer to %s %s (status %d) is not grantd's JSON: is %s a grantd?", method, path, resp.StatusCode, h.URL)}}
	}
	return resp.StatusCode, resp.Header, ans, nil
}

// networkError is err without the request's URL (which is known) when it
// is a *url.Error.
func networkError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

// answerError classifies a grantd error answer.
func answerError(status int, hdr http.Header, ans apiAnswer) *SendError {
	info := ErrorInfo{Status: status, Type: "http_" + strconv.Itoa(status), Message: http.StatusText(status)}
	if ans.Error != nil {
		info.Type, info.Message, info.ProviderError = ans.Error.Type, ans.Error.Message, ans.Error.ProviderError
	}
	e := &SendError{Kind: Permanent, Info: info}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = RateLimited
		if s, err := strconv.Atoi(strings.TrimSpace(hdr.Get("Retry-After"))); err == nil && s > 0 {
			e.RetryAfter = time.Duration(min(s, 300)) * time.Second
		} else if t, err := http.ParseTime(hdr.Get("Retry-After")); err == nil {
			e.RetryAfter = min(max(time.Until(t), 0), 300*time.Second)
		}
	case status >= 500:
		e.Kind = Transient
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = Fatal
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		// POST /v3/connect/custom has no resource to miss: a 404 is a
		// wrong URL.
		e.Kind = Fatal
	}
	return e
}
