package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ReportFormat is the version in a report's header.
const ReportFormat = 1

// Header is a report's first line.
type Header struct {
	Format  int       `json:"grantd_import_report"`
	Input   InputInfo `json:"input"`
	Created time.Time `json:"created_at"`
}

// Record is every other line of a report: a line's outcome, or a note
// that a line is being sent (Sending), written before it is sent so that
// a rerun knows the line may have reached grantd.
type Record struct {
	Line       int    `json:"line"`
	Sending    bool   `json:"sending,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	Provider   string `json:"provider,omitempty"`
	Email      string `json:"email,omitempty"`
	// Outcome is created, reauthenticated or failed.
	Outcome string     `json:"outcome,omitempty"`
	GrantID string     `json:"grant_id,omitempty"`
	Error   *ErrorInfo `json:"error,omitempty"`
	// Attempts counts the requests sent for the line.
	Attempts int `json:"attempts,omitempty"`
	// Replayed: an earlier run sent the line and was stopped before it
	// recorded the outcome.
	Replayed bool `json:"replayed,omitempty"`
	// DuplicateOf is the line whose grant this line re-authenticated
	// (an OAuth account given twice: the provider told the address).
	DuplicateOf int `json:"duplicate_of,omitempty"`
}

// done says whether a rerun skips the record's line: every outcome but a
// transient failure.
func (r Record) done() bool {
	return r.Outcome != "" && !(r.Outcome == OutcomeFailed && r.Error != nil && r.Error.Class == ClassTransient)
}

// Sync policy of the report: what a crash of the machine (not of the
// process: written records are in the kernel's hands at once) can lose.
const (
	syncEvery    = 1000
	syncInterval = time.Second
)

// Report is a report file open for a run.
type Report struct {
	path string
	hdr  Header
	// Prior is what earlier runs recorded.
	Prior Prior

	mu       sync.Mutex
	f        *os.File
	unsynced int
	lastSync time.Time
	wrote    bool
	err      error // the first write error: the run stops on it
}

// Prior is the state a report holds from earlier runs.
type Prior struct {
	done    bitset // lines with an outcome that a rerun skips
	sending bitset // lines sent without an outcome recorded
	grants  map[string]int
	// Summary counts the outcomes kept.
	Summary Summary
}

// Done reports whether line n has an outcome a rerun keeps.
func (p *Prior) Done(n int) bool { return p.done.has(n) }

// OpenReport opens the report at path for a run over the input in: it
// creates the file (0600) with a header, or reads an existing report,
// refusing one written for another input, keeps its outcomes (dropping
// transient failures, which this run tries again) and appends to it.
// With readOnly (a dry run) nothing is created or changed.
func OpenReport(path string, in InputInfo, readOnly bool) (*Report, error) {
	r := &Report{path: path, hdr: Header{Format: ReportFormat, Input: in, Created: time.Now().UTC().Truncate(time.Second)}}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if readOnly {
			return r, nil
		}
		return r, r.rewrite(nil, true)
	case err != nil:
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		if readOnly {
			return r, nil
		}
		return r, r.rewrite(nil, true)
	}
	hdr, err := readPrior(f, &r.Prior, true)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	if err := sameInput(hdr.Input, in); err != nil {
		return nil, fmt.Errorf("report %s is from another input: %v; give the input it was written for, or another --report file", path, err)
	}
	r.hdr = hdr
	if readOnly {
		return r, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return r, r.rewrite(f, true)
}

// readPrior reads a report: its header, and into p the lines done and
// sent, the grants made and the summary of the outcomes a rerun keeps
// (dropTransient: transient failures are not kept).
func readPrior(f io.Reader, p *Prior, dropTransient bool) (Header, error) {
	var hdr Header
	lr := newLineReader(f)
	p.grants = map[string]int{}
	p.Summary = newSummary()
	var pending *Record
	for {
		n, b, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return hdr, err
		}
		if n == 1 {
			if tooLong || json.Unmarshal(b, &hdr) != nil || hdr.Format == 0 {
				return hdr, errors.New("its first line is not a grantd import report header: is it a report of grantd import?")
			}
			if hdr.Format != ReportFormat {
				return hdr, fmt.Errorf("it is in format %d; this grantd reads format %d", hdr.Format, ReportFormat)
			}
			continue
		}
		if pending != nil {
			return hdr, fmt.Errorf("line %d is not a report record; was the file edited?", n-1)
		}
		var rec Record
		if tooLong || json.Unmarshal(b, &rec) != nil || rec.Line <= 0 {
			// The last line may be cut short by a crash: it is dropped.
			pending = &rec
			continue
		}
		switch {
		case rec.Sending:
			if !p.done.has(rec.Line) {
				p.sending.set(rec.Line)
			}
		case rec.Outcome != "" && !p.done.has(rec.Line):
			if dropTransient && !rec.done() {
				continue
			}
			p.done.set(rec.Line)
			p.sending.clear(rec.Line)
			p.Summary.add(rec)
			if rec.GrantID != "" {
				if _, ok := p.grants[rec.GrantID]; !ok {
					p.grants[rec.GrantID] = rec.Line
				}
			}
		}
	}
	if hdr.Format == 0 {
		return hdr, errors.New("it has no header line")
	}
	return hdr, nil
}

// rewrite writes the report anew (a temporary file renamed over it): the
// header, then from old, when not nil, each line's kept outcome, or its
// sending record when it has none; and opens it for appending.
func (r *Report) rewrite(old io.Reader, dropTransient bool) error {
	tmp := r.path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	w := &recordWriter{f: f}
	if err := w.write(r.hdr); err != nil {
		return fail(err)
	}
	if old != nil {
		if err := copyKept(old, w, &r.Prior, dropTransient); err != nil {
			return fail(err)
		}
	}
	if err := w.flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fail(err)
	}
	syncDir(filepath.Dir(r.path))
	if r.f, err = os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return err
	}
	r.lastSync = time.Now()
	return nil
}

// copyKept copies from old the records that p keeps: one outcome for
// each line done (transient failures only unless dropTransient), one
// sending record for each line sent and not done.
func copyKept(old io.Reader, w *recordWriter, p *Prior, dropTransient bool) error {
	var written, sent bitset
	lr := newLineReader(old)
	for {
		n, b, tooLong, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var rec Record
		if n == 1 || tooLong || json.Unmarshal(b, &rec) != nil || rec.Line <= 0 {
			continue
		}
		switch {
		case rec.Sending:
			if p.sending.has(rec.Line) && !sent.has(rec.Line) {
				sent.set(rec.Line)
				err = w.write(rec)
			}
		case rec.Outcome != "" && p.done.has(rec.Line) && !written.has(rec.Line) && (rec.done() || !dropTransient):
			written.set(rec.Line)
			err = w.write(rec)
		}
		if err != nil {
			return err
		}
	}
}

// recordWriter buffers records for a rewrite.
type recordWriter struct {
	f   *os.File
	buf []byte
}

func (w *recordWriter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.buf = append(append(w.buf, b...), '\n')
	if len(w.buf) >= 1<<16 {
		return w.flush()
	}
	return nil
}

func (w *recordWriter) flush() error {
	_, err := w.f.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Write appends rec with one write call, so that a process killed at any
// moment leaves every record it wrote whole; the file is synced every
// syncEvery records or syncInterval. The first error is kept and
// returned from then on.
func (r *Report) Write(rec Record) error {
	if r == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if _, err := r.f.Write(b); err != nil {
		r.err = fmt.Errorf("report %s: %w", r.path, err)
		return r.err
	}
	r.wrote = true
	r.unsynced++
	if r.unsynced >= syncEvery || time.Since(r.lastSync) >= syncInterval {
		r.syncLocked()
	}
	return r.err
}

func (r *Report) syncLocked() {
	if err := r.f.Sync(); err != nil && r.err == nil {
		r.err = fmt.Errorf("report %s: %w", r.path, err)
	}
	r.unsynced, r.lastSync = 0, time.Now()
}

// Finish syncs the report and, when the run wrote to it, rewrites it with
// one record a line: each line's outcome (this run's transient failures
// included), and the sending record of a line sent without an outcome
// (the run was stopped).
func (r *Report) Finish() error {
	if r == nil || r.f == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncLocked()
	err := r.err
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	if err != nil || !r.wrote {
		return err
	}
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var p Prior
	if _, err := readPrior(f, &p, false); err != nil {
		return fmt.Errorf("report %s: %w", r.path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r.Prior = p
	if err := r.rewrite(f, false); err != nil {
		return err
	}
	return r.f.Close()
}

// Path is the report's file.
func (r *Report) Path() string { return r.path }

// Header is the report's header (an existing report's own).
func (r *Report) Header() Header { return r.hdr }
