package detect

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/grantd/grantd/internal/emailaddr"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxDocBytes bounds an autoconfig or Autodiscover document.
const maxDocBytes = 256 << 10

// fetch does one discovery HTTP request under HTTPTimeout and returns the
// body of a 200 answer.
func (d *Detector) fetch(ctx context.Context, method, u string, body []byte, ctype string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.HTTPTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "grantd-detect")
	resp, err := d.hc.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop the URL: it carries the email address
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocBytes))
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDocBytes {
		return nil, fmt.Errorf("document larger than %d bytes", maxDocBytes)
	}
	return data, nil
}

// clientConfig is the Mozilla autoconfig format (config-v1.1.xml).
type clientConfig struct {
	XMLName   xml.Name `xml:"clientConfig"`
	Providers []struct {
		Incoming []xmlServer `xml:"incomingServer"`
		Outgoing []xmlServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type xmlServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       string `xml:"port"`
	SocketType string `xml:"socketType"`
}

// socketRank prefers implicit TLS, then STARTTLS; plain text is never used.
func socketRank(s string) int {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SSL", "TLS":
		return 2
	case "STARTTLS":
		return 1
	}
	return 0
}

// pickServer returns the best usable server of type typ.
func pickServer(list []xmlServer, typ, domain string) (string, int, bool) {
	best, bestRank := -1, 0
	var host string
	var port int
	for i, s := range list {
		if !strings.EqualFold(strings.TrimSpace(s.Type), typ) {
			continue
		}
		r := socketRank(s.SocketType)
		h := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(s.Hostname, "%EMAILDOMAIN%", domain)))
		p, err := strconv.Atoi(strings.TrimSpace(s.Port))
		if r == 0 || !validHost(h) || err != nil || p < 1 || p > 65535 {
			continue
		}
		if r > bestRank {
			best, bestRank, host, port = i, r, h, p
		}
	}
	return host, port, best >= 0
}

// parseAutoconfig reads a config-v1.1.xml document.
func parseAutoconfig(data []byte, domain string) (Settings, error) {
	var cc clientConfig
	if err := xml.Unmarshal(data, &cc); err != nil {
		return Settings{}, fmt.Errorf("not an autoconfig document: %v", err)
	}
	var s Settings
	for _, p := range cc.Providers {
		if s.IMAPHost == "" {
			s.IMAPHost, s.IMAPPort, _ = pickServer(p.Incoming, "imap", domain)
		}
		if s.SMTPHost == "" {
			s.SMTPHost, s.SMTPPort, _ = pickServer(p.Outgoing, "smtp", domain)
		}
	}
	if s.IMAPHost == "" && s.SMTPHost == "" {
		return Settings{}, errors.New("the document names no IMAP or SMTP server with TLS")
	}
	return s, nil
}

// autoconfig tries the autoconfig URLs in order and returns the first
// document that names a server, with its URL (without the query).
func (d *Detector) autoconfig(ctx context.Context, e emailaddr.Email) (Settings, string, error) {
	var errs []string
	for _, u := range d.o.AutoconfigURLs(e.Domain, e.String()) {
		if ctx.Err() != nil {
			errs = append(errs, "deadline reached")
			break
		}
		data, err := d.fetch(ctx, http.MethodGet, u, nil, "")
		if err == nil {
			var s Settings
			if s, err = parseAutoconfig(data, e.Domain); err == nil {
				return s, redactURL(u), nil
			}
		}
		errs = append(errs, redactURL(u)+": "+errText(err))
	}
	return Settings{}, "", errors.New(strings.Join(errs, ", "))
}

// Autodiscover (POX, the Outlook 2006 schema).
const autodiscoverRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

type autodiscoverResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	Response struct {
		Error struct {
			Message string `xml:"Message"`
		} `xml:"Error"`
		Account struct {
			Action      string `xml:"Action"`
			RedirectURL string `xml:"RedirectUrl"`
			Protocol    []struct {
				Type   string `xml:"Type"`
				EwsURL string `xml:"EwsUrl"`
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

// parseAutodiscover returns the EWS URL of an Autodiscover answer, or the
// URL it redirects to.
func parseAutodiscover(data []byte) (ews, redirect string, err error) {
	var ar autodiscoverResponse
	if err := xml.Unmarshal(data, &ar); err != nil {
		return "", "", fmt.Errorf("not an Autodiscover answer: %v", err)
	}
	acc := ar.Response.Account
	if strings.EqualFold(acc.Action, "redirectUrl") && strings.HasPrefix(acc.RedirectURL, "https://") {
		return "", strings.TrimSpace(acc.RedirectURL), nil
	}
	for _, want := range []string{"EXCH", "EXPR", "WEB"} {
		for _, p := range acc.Protocol {
			u := strings.TrimSpace(p.EwsURL)
			if strings.EqualFold(strings.TrimSpace(p.Type), want) && strings.HasPrefix(u, "https://") {
				return u, "", nil
			}
		}
	}
	if m := strings.TrimSpace(ar.Response.Error.Message); m != "" {
		return "", "", fmt.Errorf("the server answered an error: %s", m)
	}
	return "", "", errors.New("the answer names no https EWS URL")
}

func (d *Detector) autodiscover(ctx context.Context, u, email string, redirects int) (string, error) {
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(email))
	body := fmt.Appendf(nil, autodiscoverRequest, esc.String())
	data, err := d.fetch(ctx, http.MethodPost, u, body, "text/xml; charset=utf-8")
	if err != nil {
		return "", err
	}
	ews, redirect, err := parseAutodiscover(data)
	if err != nil {
		return "", err
	}
	if redirect != "" {
		if redirects <= 0 {
			return "", errors.New("too many Autodiscover redirects")
		}
		return d.autodiscover(ctx, redirect, email, redirects-1)
	}
	return ews, nil
}
