package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/importjob"
	"github.com/grantd/grantd/internal/store"
)

// The bulk import extension (internal/importjob): POST /grantd/v1/imports
// takes the NDJSON of `grantd import` and runs it as a job in the server.

// importJobJSON is an import job. Times are Unix seconds, 0 for not yet.
type importJobJSON struct {
	ID              string         `json:"id"`
	State           string         `json:"state"`
	DryRun          bool           `json:"dry_run"`
	Lines           int            `json:"lines"`
	Done            int            `json:"done"`
	Checked         int            `json:"checked,omitempty"`
	Created         int            `json:"created"`
	Reauthenticated int            `json:"reauthenticated"`
	Failed          int            `json:"failed"`
	FailedByClass   map[string]int `json:"failed_by_class"`
	Error           string         `json:"error,omitempty"`
	CreatedAt       int64          `json:"created_at"`
	UpdatedAt       int64          `json:"updated_at"`
	StartedAt       int64          `json:"started_at"`
	FinishedAt      int64          `json:"finished_at"`
}

func importJobView(j store.ImportJob) importJobJSON {
	return importJobJSON{
		ID: j.ID, State: j.State, DryRun: j.DryRun, Lines: j.Lines, Done: j.Done, Checked: j.Checked,
		Created: j.Created, Reauthenticated: j.Reauthenticated, Failed: j.FailedInput + j.FailedPermanent + j.FailedTransient,
		FailedByClass: map[string]int{importer.ClassInput: j.FailedInput, importer.ClassPermanent: j.FailedPermanent, importer.ClassTransient: j.FailedTransient},
		Error:         j.Error, CreatedAt: unix(j.CreatedAt), UpdatedAt: unix(j.UpdatedAt), StartedAt: unix(j.StartedAt), FinishedAt: unix(j.FinishedAt),
	}
}

// ImportErrorInfo describes a grant service error as POST
// /v3/connect/custom would answer it (the import jobs' outcomes); false
// for an internal error.
func ImportErrorInfo(err error) (importer.ErrorInfo, bool) {
	ae, ok := toAPIError(err)
	if !ok {
		return importer.ErrorInfo{}, false
	}
	return importer.ErrorInfo{Status: ae.Status, Type: ae.Type, Message: ae.Message, ProviderError: ae.ProviderError}, true
}

const importsPath = "/grantd/v1/imports"

var _ importjob.Describe = ImportErrorInfo

// bodyLimit is the most bytes a request's body may hold.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if s.cfg.Imports != nil && r.Method == http.MethodPost && r.URL.Path == importsPath {
		return s.cfg.ImportMaxBodyBytes
	}
	return s.cfg.MaxBodyBytes
}

// bodyTooLarge is the answer to a body over the limit.
func (s *Server) bodyTooLarge(r *http.Request, limit int64) *Error {
	if s.cfg.Imports == nil || r.Method != http.MethodPost || r.URL.Path != importsPath {
		return bodyTooLarge(limit)
	}
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeTooLarge,
		Message: "the import is larger than imports.max_body_bytes (" + strconv.FormatInt(limit, 10) + " bytes): split the file and send each part as its own import, or run grantd import, which has no size limit"}
}

func (s *Server) createImport(w http.ResponseWriter, r *http.Request) {
	dryRun := false
	switch v := r.URL.Query().Get("dry_run"); v {
	case "", "false", "0":
	case "true", "1":
		dryRun = true
	default:
		s.respondError(w, r, BadRequest("query parameter dry_run must be true or false, not %q", fault.Shorten(v, 40)))
		return
	}
	// The body may take longer to arrive than http.read_timeout allows
	// another request.
	if s.cfg.ImportUploadTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.ImportUploadTimeout))
	}
	j, err := s.cfg.Imports.Create(r.Context(), principal(r).App.ID, r.Body, dryRun)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			err = s.bodyTooLarge(r, mbe.Limit)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || r.Context().Err() != nil:
			err = errBodyCut
		}
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusAccepted, importJobView(j))
}

func (s *Server) listImports(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r.URL.Query())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	js, err := s.cfg.Imports.List(r.Context(), principal(r).App.ID, opts)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]importJobJSON, len(js))
	for i, j := range js {
		out[i] = importJobView(j)
	}
	respondList(w, r, out, opts.Limit, opts.Offset, "")
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request) {
	j, err := s.cfg.Imports.Get(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, importJobView(j))
}

func (s *Server) cancelImport(w http.ResponseWriter, r *http.Request) {
	j, err := s.cfg.Imports.Cancel(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, importJobView(j))
}

// importResults streams the outcome of every line done so far as NDJSON,
// in line order: the records of grantd import's report, without secrets.
func (s *Server) importResults(w http.ResponseWriter, r *http.Request) {
	app, id := principal(r).App.ID, r.PathValue("id")
	if _, err := s.cfg.Imports.Get(r.Context(), app, id); err != nil {
		s.respondError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	if s.cfg.ImportUploadTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.ImportUploadTimeout))
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	n := 0
	err := s.cfg.Imports.Results(r.Context(), app, id, func(rec []byte) error {
		if _, err := w.Write(append(rec, '\n')); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			_ = rc.Flush()
		}
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		// The status is sent: the stream ends short, which the client
		// sees as a body without its last line end or a cut connection.
		s.log.WarnContext(r.Context(), "import results cut short", slog.String("request_id", RequestID(r.Context())), slog.Any("err", err))
		panic(http.ErrAbortHandler)
	}
}
