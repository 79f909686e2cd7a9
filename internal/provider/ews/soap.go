package ews

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

// The two SOAP requests grantd sends. RequestServerVersion Exchange2013 is
// understood by Exchange 2013, 2016, 2019 and Exchange Online.

const soapHead = `<?xml version="1.0" encoding="utf-8"?>` +
	`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">` +
	`<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body>`

const soapTail = `</soap:Body></soap:Envelope>`

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// resolveNamesRequest asks the directory who entry (an SMTP address) is.
func resolveNamesRequest(entry string) []byte {
	return []byte(soapHead +
		`<m:ResolveNames ReturnFullContactData="false" SearchScope="ActiveDirectory">` +
		`<m:UnresolvedEntry>` + xmlText(entry) + `</m:UnresolvedEntry></m:ResolveNames>` + soapTail)
}

// getFolderRequest asks for the inbox of mailbox (the authenticated user's
// own when mailbox is empty).
func getFolderRequest(mailbox string) []byte {
	mb := ""
	if mailbox != "" {
		mb = `<t:Mailbox><t:EmailAddress>` + xmlText(mailbox) + `</t:EmailAddress></t:Mailbox>`
	}
	return []byte(soapHead +
		`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>` +
		`<m:FolderIds><t:DistinguishedFolderId Id="inbox">` + mb + `</t:DistinguishedFolderId></m:FolderIds></m:GetFolder>` + soapTail)
}

// responseMessage is one m:*ResponseMessage of any operation.
type responseMessage struct {
	XMLName       xml.Name
	ResponseClass string     `xml:"ResponseClass,attr"`
	MessageText   string     `xml:"MessageText"`
	ResponseCode  string     `xml:"ResponseCode"`
	MessageXML    []xmlValue `xml:"MessageXml>Value"`
	Folders       []folder   `xml:"Folders>Folder"`
	Resolutions   []resolved `xml:"ResolutionSet>Resolution"`
}

type folder struct {
	FolderID struct {
		ID string `xml:"Id,attr"`
	} `xml:"FolderId"`
	DisplayName string `xml:"DisplayName"`
}

type resolved struct {
	Name         string `xml:"Mailbox>Name"`
	EmailAddress string `xml:"Mailbox>EmailAddress"`
	RoutingType  string `xml:"Mailbox>RoutingType"`
	MailboxType  string `xml:"Mailbox>MailboxType"`
	DisplayName  string `xml:"Contact>DisplayName"`
}

type fault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		ResponseCode string     `xml:"ResponseCode"`
		Message      string     `xml:"Message"`
		MessageXML   []xmlValue `xml:"MessageXml>Value"`
	} `xml:"detail"`
}

// xmlValue is a t:Value of an error's t:MessageXml: Exchange's details of
// the error, such as BackOffMilliseconds of ErrorServerBusy.
type xmlValue struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

// backOff is the BackOffMilliseconds of an error's MessageXml (how long a
// throttled caller is to wait: Exchange's throttling sends it with
// ErrorServerBusy), at most provider.MaxRetryAfter; zero when absent or
// unreadable.
func backOff(values []xmlValue) time.Duration {
	for _, v := range values {
		if !strings.EqualFold(strings.TrimSpace(v.Name), "BackOffMilliseconds") {
			continue
		}
		// Out of int64's range, ms is its bound: the longest pause.
		ms, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) || ms <= 0 {
			return 0
		}
		return time.Duration(min(ms, provider.MaxRetryAfter.Milliseconds())) * time.Millisecond
	}
	return 0
}

// operationResponse is m:GetFolderResponse, m:ResolveNamesResponse, …
type operationResponse struct {
	XMLName          xml.Name
	ResponseMessages struct {
		Items []responseMessage `xml:",any"`
	} `xml:"ResponseMessages"`
}

type envelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Fault     *fault              `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
		Responses []operationResponse `xml:",any"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// parseEnvelope decodes a SOAP answer; ok is false when body is not one.
func parseEnvelope(body []byte) (envelope, bool) {
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return env, false
	}
	return env, true
}

// faultCode is the EWS error code of a fault: detail/ResponseCode, else
// the faultcode without its prefix.
func (f *fault) code() string {
	if c := strings.TrimSpace(f.Detail.ResponseCode); c != "" {
		return c
	}
	c := strings.TrimSpace(f.Code)
	if _, after, ok := strings.Cut(c, ":"); ok {
		return after
	}
	return c
}

// message returns the operation's first response message, if any.
func (e envelope) message(op string) (responseMessage, bool) {
	for _, r := range e.Body.Responses {
		if r.XMLName.Local == op+"Response" && len(r.ResponseMessages.Items) > 0 {
			return r.ResponseMessages.Items[0], true
		}
	}
	return responseMessage{}, false
}
