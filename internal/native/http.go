package native

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
)

// Handlers serves the v2 paths.
type Handlers struct {
	Service *Service
	Log     *slog.Logger
	// RequestID returns the id of the request being served, for the log.
	RequestID func(*http.Request) string
}

// Authorize serves POST /connect/authorize.
func (h *Handlers) Authorize(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := ParseAuthorize(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	code, err := h.Service.Authorize(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": code})
}

// Token serves POST /connect/token.
func (h *Handlers) Token(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := ParseToken(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	acc, err := h.Service.Token(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acc)
}

// MethodNotAllowed answers a v2 path's other methods with a v2 405.
func (h *Handlers) MethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Message: "this path takes " + allow})
	}
}

// TooManyRequests answers a v2 429 (rate_limit_error) with Retry-After
// (seconds): the API's per-address limit of the routes that take no API
// key.
func (h *Handlers) TooManyRequests(w http.ResponseWriter, r *http.Request, retryAfter int, message string) {
	h.fail(w, r, &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, RetryAfter: retryAfter, Message: message})
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, invalidf("the request body is empty; send a JSON object")
	}
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Message: "the request body is too large"}
	}
	if err != nil {
		return nil, invalidf("the request body could not be read")
	}
	return b, nil
}

// fail writes err in v2's error shape; an error that is not a v2 or
// classified one is logged and answered without its cause.
func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := toError(err)
	if !ok {
		id := ""
		if h.RequestID != nil {
			id = h.RequestID(r)
		}
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(r.Context(), "internal error", slog.String("request_id", id), slog.String("route", r.Pattern), slog.Any("err", err))
		e = &Error{Status: http.StatusInternalServerError, Type: TypeAPI, Message: "internal error; the request id (x-request-id) identifies it in grantd's log"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]string{"message": e.Message, "type": e.Type})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"message":"response could not be encoded","type":"api_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
