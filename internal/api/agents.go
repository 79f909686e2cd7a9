package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

// The grantd extension of agent accounts: the application's mail host
// checks a mailbox's app password.

const verifyPasswordPath = "/grantd/v1/agent-accounts/verify-password"

type verifyPasswordBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type verifyPasswordJSON struct {
	Valid   bool   `json:"valid"`
	GrantID string `json:"grant_id,omitempty"`
	Email   string `json:"email,omitempty"`
}

// maxCheckedPassword bounds the password of a check (no app password is
// longer than 40 characters).
const maxCheckedPassword = 1024

func (s *Server) verifyAgentPassword(w http.ResponseWriter, r *http.Request) {
	var body verifyPasswordBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	email := strings.TrimSpace(body.Email)
	switch {
	case email == "":
		s.respondError(w, r, BadRequest("email is required: the agent mailbox's address"))
		return
	case len(email) > 320:
		s.respondError(w, r, BadRequest("email is %d bytes long; an address has at most 320", len(email)))
		return
	case body.Password == "":
		s.respondError(w, r, BadRequest("password is required: the app password the mailbox's user presented"))
		return
	case len(body.Password) > maxCheckedPassword:
		s.respondError(w, r, BadRequest("password is longer than %d bytes", maxCheckedPassword))
		return
	}
	app := principal(r).App.ID
	if lim := s.cfg.PasswordCheckRateLimit; lim != nil {
		if ok, wait := lim.Allow(app+"\x00"+strings.ToLower(email), time.Now()); !ok {
			secs := max(int64(math.Ceil(wait.Seconds())), 1)
			perSecond, burst := lim.Rate()
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			s.respondError(w, r, &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Message: fmt.Sprintf(
				"too many password checks for this mailbox: the limit is %g a minute on this grantd node, in bursts of %d; retry in %d s",
				perSecond*60, burst, secs)})
			return
		}
	}
	g, ok, err := s.cfg.Grants.VerifyPassword(r.Context(), app, provider.Agent, email, body.Password)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := verifyPasswordJSON{Valid: ok}
	if ok {
		out.GrantID, out.Email = g.ID, g.Email
	}
	respond(w, r, http.StatusOK, out)
}
