package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// RequestID returns the id of the request being served.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeJSON writes v with status. Every answer of the API goes through here.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here; keep the envelope.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"type":"api.internal_error","message":"response could not be encoded"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// envelope is the success body {request_id, data, …}.
type envelope struct {
	RequestID  string `json:"request_id"`
	Data       any    `json:"data,omitempty"`
	Limit      *int   `json:"limit,omitempty"`
	Offset     *int   `json:"offset,omitempty"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// respond writes {request_id, data}.
func respond(w http.ResponseWriter, r *http.Request, status int, data any) {
	writeJSON(w, status, envelope{RequestID: RequestID(r.Context()), Data: data})
}

// respondList writes {request_id, data:[…], limit, offset}; data is never null.
func respondList[T any](w http.ResponseWriter, r *http.Request, items []T, limit, offset int, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, envelope{RequestID: RequestID(r.Context()), Data: items, Limit: &limit, Offset: &offset, NextCursor: next})
}

// respondDeleted writes {request_id}.
func respondDeleted(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, envelope{RequestID: RequestID(r.Context())})
}

type errorBody struct {
	RequestID string       `json:"request_id"`
	Error     errorPayload `json:"error"`
}

type errorPayload struct {
	Type          string         `json:"type"`
	Message       string         `json:"message"`
	ProviderError map[string]any `json:"provider_error,omitempty"`
}

// respondError writes the Nylas error envelope. Errors that are not *Error
// (or classified provider errors) are internal: they are logged and the
// caller sees a generic message, never the cause.
//
// A client that hung up is not grantd's failure: it is logged at info and
// counted as status 499 (see clientGone), never as an internal error.
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r, err) {
		markClientGone(w)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "client closed the request",
			slog.String("request_id", RequestID(r.Context())), slog.String("route", r.Pattern), slog.Any("err", err))
		if r.Context().Err() != nil {
			// What failed, failed because of it; a client that only
			// half-closed its connection still reads this.
			err = errClientClosed
		}
	}
	ae, ok := toAPIError(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "internal error", slog.String("request_id", RequestID(r.Context())), slog.String("route", r.Pattern), slog.Any("err", err))
		ae = &Error{Status: http.StatusInternalServerError, Type: TypeInternal, Message: "internal error; the request id identifies it in grantd's log"}
	}
	switch {
	case ae.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	case ae.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfterUnavailable)
	}
	writeJSON(w, ae.Status, errorBody{RequestID: RequestID(r.Context()), Error: errorPayload{Type: ae.Type, Message: ae.Message, ProviderError: ae.ProviderError}})
}

// retryAfterUnavailable is the Retry-After of a 503 (a store or another
// dependency of grantd that cannot answer now), in seconds.
const retryAfterUnavailable = "5"

// StatusClientClosedRequest is the status a request the client hung up on
// is counted with (the common convention): the client may never see it.
const StatusClientClosedRequest = 499

var (
	// errClientClosed answers a request whose client closed its connection
	// while grantd worked on it.
	errClientClosed = &Error{Status: StatusClientClosedRequest, Type: TypeInvalidRequest,
		Message: "the request was cancelled: the client closed its connection before grantd answered"}
	// errBodyCut answers a body that ended before its declared length.
	errBodyCut = &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload,
		Message: "the request body ended early: the client closed the connection before sending all of it"}
)

// clientGone reports whether err is the client's hang-up: the request's
// context ends when the client closes its connection (or cancels an
// HTTP/2 stream), and a body cut short is one that was never finished.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, errBodyCut)
}

// markClientGone makes the request count as StatusClientClosedRequest in
// the metrics and the access log, whatever is written.
func markClientGone(w http.ResponseWriter) {
	for {
		switch v := w.(type) {
		case *statusRecorder:
			v.clientGone = true
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return
		}
	}
}
