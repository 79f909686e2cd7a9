package api

import (
	"net/http"

	"github.com/grantd/grantd/internal/domain"
	"github.com/grantd/grantd/internal/store"
)

// The domains of agent accounts: /v3/admin/domains (Nylas's Manage
// Domains; grantd authenticates them with the application's API key).

type domainJSON struct {
	ID                string        `json:"id"`
	Name              string        `json:"name"`
	Branded           bool          `json:"branded"`
	DomainAddress     string        `json:"domain_address"`
	VerifiedOwnership bool          `json:"verified_ownership"`
	VerifiedMX        bool          `json:"verified_mx"`
	MXHost            string        `json:"mx_host"`
	CreatedAt         int64         `json:"created_at"`
	UpdatedAt         int64         `json:"updated_at"`
	Grantd            domainExtJSON `json:"grantd"`
}

// domainExtJSON is grantd's extension of a domain: whether agent grants
// may use it, and when each record was last checked.
type domainExtJSON struct {
	Verified           bool  `json:"verified"`
	OwnershipCheckedAt int64 `json:"ownership_checked_at"`
	MXCheckedAt        int64 `json:"mx_checked_at"`
}

func domainView(d store.Domain) domainJSON {
	return domainJSON{
		ID: d.ID, Name: d.Name, DomainAddress: d.Address, MXHost: d.MXHost,
		VerifiedOwnership: !d.OwnershipVerifiedAt.IsZero(), VerifiedMX: !d.MXVerifiedAt.IsZero(),
		CreatedAt: d.CreatedAt.Unix(), UpdatedAt: d.UpdatedAt.Unix(),
		Grantd: domainExtJSON{Verified: d.Verified(), OwnershipCheckedAt: unix(d.OwnershipCheckedAt), MXCheckedAt: unix(d.MXCheckedAt)},
	}
}

type domainBody struct {
	Name          *string `json:"name"`
	DomainAddress *string `json:"domain_address"`
	MXHost        *string `json:"mx_host"`
}

func (b domainBody) input() domain.Input {
	return domain.Input{Name: b.Name, Address: b.DomainAddress, MXHost: b.MXHost}
}

func (s *Server) createDomain(w http.ResponseWriter, r *http.Request) {
	var body domainBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	d, err := s.cfg.Domains.Create(r.Context(), principal(r).App.ID, body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, domainView(d))
}

// Domain lists page by id: page_token is the next_cursor of the page
// before.
const (
	domainsDefaultLimit = 50
	domainsMaxLimit     = 200
)

func (s *Server) listDomains(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q, "limit", domainsDefaultLimit, 0, domainsMaxLimit)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	if limit == 0 {
		limit = domainsDefaultLimit
	}
	after := q.Get("page_token")
	if len(after) > 200 {
		s.respondError(w, r, BadRequest("page_token is not a cursor of this list: use the next_cursor of the page before"))
		return
	}
	list, next, err := s.cfg.Domains.List(r.Context(), principal(r).App.ID, after, limit)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]domainJSON, 0, len(list))
	for _, d := range list {
		out = append(out, domainView(d))
	}
	writeJSON(w, http.StatusOK, envelope{RequestID: RequestID(r.Context()), Data: out, NextCursor: next})
}

func (s *Server) getDomain(w http.ResponseWriter, r *http.Request) {
	d, err := s.cfg.Domains.Get(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, domainView(d))
}

func (s *Server) updateDomain(w http.ResponseWriter, r *http.Request) {
	var body domainBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	d, err := s.cfg.Domains.Update(r.Context(), principal(r).App.ID, r.PathValue("id"), body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, domainView(d))
}

func (s *Server) deleteDomain(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Domains.Delete(r.Context(), principal(r).App.ID, r.PathValue("id")); err != nil {
		s.respondError(w, r, err)
		return
	}
	respondDeleted(w, r)
}

type domainTypeBody struct {
	Type string `json:"type"`
}

type domainRecordJSON struct {
	DomainID  string            `json:"domain_id"`
	Attempt   domainAttemptJSON `json:"attempt"`
	Status    string            `json:"status"`
	Message   string            `json:"message"`
	CreatedAt int64             `json:"created_at"`
}

type domainAttemptJSON struct {
	Type    string            `json:"type"`
	Options domainOptionsJSON `json:"options"`
}

type domainOptionsJSON struct {
	Host     string `json:"host"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	Priority int    `json:"priority,omitempty"`
}

func domainRecordView(rec domain.Record) domainRecordJSON {
	return domainRecordJSON{
		DomainID: rec.DomainID, Status: rec.Status, Message: rec.Message, CreatedAt: unix(rec.CheckedAt),
		Attempt: domainAttemptJSON{Type: rec.Type, Options: domainOptionsJSON{Host: rec.Host, Type: rec.RRType, Value: rec.Value, Priority: rec.Priority}},
	}
}

func (s *Server) domainInfo(w http.ResponseWriter, r *http.Request) {
	var body domainTypeBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	rec, err := s.cfg.Domains.Info(r.Context(), principal(r).App.ID, r.PathValue("id"), body.Type)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, domainRecordView(rec))
}

func (s *Server) verifyDomain(w http.ResponseWriter, r *http.Request) {
	var body domainTypeBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	rec, _, err := s.cfg.Domains.Verify(r.Context(), principal(r).App.ID, r.PathValue("id"), body.Type)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, domainRecordView(rec))
}
