package ews

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// XML namespaces of EWS.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
)

type folderID struct {
	ID      string `xml:"Id,attr"`
	Mailbox string `xml:"Mailbox>EmailAddress"`
}

type requestEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Header  struct {
		Version struct {
			Version string `xml:"Version,attr"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequestServerVersion"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body struct {
		GetFolder *struct {
			BaseShape string     `xml:"FolderShape>BaseShape"`
			Folders   []folderID `xml:"FolderIds>DistinguishedFolderId"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetFolder"`
		ResolveNames *struct {
			Entry string `xml:"UnresolvedEntry"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResolveNames"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func parseRequest(r io.Reader) (requestEnvelope, error) {
	var env requestEnvelope
	if err := xml.NewDecoder(r).Decode(&env); err != nil {
		return env, err
	}
	if gf := env.Body.GetFolder; gf != nil {
		if len(gf.Folders) == 0 {
			return env, errors.New("GetFolder has no FolderIds")
		}
		if gf.BaseShape == "" {
			return env, errors.New("GetFolder has no FolderShape")
		}
	}
	return env, nil
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const envelopeHead = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11" xmlns:h="` + nsTypes + `" xmlns="` + nsTypes + `" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`

func writeResponse(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, envelopeHead+body+`</s:Body></s:Envelope>`)
}

// writeFault writes a 500 SOAP fault the way Exchange does.
func writeFault(w http.ResponseWriter, code, text, detail string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="%s"><s:Body><s:Fault><faultcode xmlns:a="%s">%s</faultcode><faultstring xml:lang="en-US">%s</faultstring><detail>%s</detail></s:Fault></s:Body></s:Envelope>`,
		nsSOAP, nsTypes, esc(code), esc(text), detail)
}

// responseMessage is one operation's response with a single message.
func responseMessage(op, class, code, text, inner string) string {
	msg := ""
	if text != "" {
		msg = "<m:MessageText>" + esc(text) + "</m:MessageText>"
	}
	return fmt.Sprintf(`<m:%[1]sResponse xmlns:m="%[2]s" xmlns:t="%[3]s"><m:ResponseMessages><m:%[1]sResponseMessage ResponseClass="%[4]s">%[5]s<m:ResponseCode>%[6]s</m:ResponseCode>%[7]s</m:%[1]sResponseMessage></m:ResponseMessages></m:%[1]sResponse>`,
		op, nsMessages, nsTypes, class, msg, code, inner)
}

var folderNames = map[string]string{
	"inbox": "Inbox", "msgfolderroot": "Top of Information Store", "root": "", "calendar": "Calendar",
	"contacts": "Contacts", "sentitems": "Sent Items", "deleteditems": "Deleted Items", "drafts": "Drafts",
}

func getFolder(u *User, users []*User, ids []folderID) string {
	var msgs strings.Builder
	for _, f := range ids {
		name, ok := folderNames[f.ID]
		mailbox := u
		if f.Mailbox != "" && !strings.EqualFold(f.Mailbox, u.Email) {
			mailbox = nil
			for _, o := range users {
				if strings.EqualFold(o.Email, f.Mailbox) {
					mailbox = o
				}
			}
		}
		switch {
		case mailbox == nil:
			msgs.WriteString(`<m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>The SMTP address has no mailbox associated with it.</m:MessageText><m:ResponseCode>ErrorNonExistentMailbox</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml><t:Value Name="SmtpAddress">` + esc(f.Mailbox) + `</t:Value></m:MessageXml><m:Folders/></m:GetFolderResponseMessage>`)
		case mailbox != u:
			msgs.WriteString(`<m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>Access is denied. Check credentials and try again.</m:MessageText><m:ResponseCode>ErrorAccessDenied</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Folders/></m:GetFolderResponseMessage>`)
		case !ok:
			msgs.WriteString(`<m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>The specified folder could not be found in the store.</m:MessageText><m:ResponseCode>ErrorFolderNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Folders/></m:GetFolderResponseMessage>`)
		default:
			fmt.Fprintf(&msgs, `<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id="AAMkAD%s-%s" ChangeKey="AQAAABYAAAA"/><t:DisplayName>%s</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount><t:UnreadCount>0</t:UnreadCount></t:Folder></m:Folders></m:GetFolderResponseMessage>`,
				esc(strings.ReplaceAll(u.Email, "@", ".")), esc(f.ID), esc(name))
		}
	}
	return fmt.Sprintf(`<m:GetFolderResponse xmlns:m="%s" xmlns:t="%s"><m:ResponseMessages>%s</m:ResponseMessages></m:GetFolderResponse>`, nsMessages, nsTypes, msgs.String())
}

// resolveNames looks entry up in the directory: an exact SMTP address, or
// a prefix of a display name, an address or a logon name.
func resolveNames(users []*User, entry string) string {
	e := strings.TrimSpace(entry)
	if len(e) > 5 && strings.EqualFold(e[:5], "smtp:") {
		e = e[5:]
	}
	var found []*User
	for _, u := range users {
		if strings.EqualFold(u.Email, e) {
			found = []*User{u}
			break
		}
		logon := u.Username
		if _, after, ok := strings.Cut(logon, `\`); ok {
			logon = after
		}
		for _, c := range []string{u.DisplayName, u.Email, logon} {
			if e != "" && len(c) >= len(e) && strings.EqualFold(c[:len(e)], e) {
				found = append(found, u)
				break
			}
		}
	}
	if len(found) == 0 {
		return responseMessage("ResolveNames", "Error", "ErrorNameResolutionNoResults", "No results were found.", "")
	}
	class, code, text := "Success", "NoError", ""
	if len(found) > 1 {
		class, code, text = "Warning", "ErrorNameResolutionMultipleResults", "Multiple results were found."
	}
	var set strings.Builder
	fmt.Fprintf(&set, `<m:ResolutionSet TotalItemsInView="%d" IncludesLastItemInRange="true">`, len(found))
	for _, u := range found {
		fmt.Fprintf(&set, `<t:Resolution><t:Mailbox><t:Name>%s</t:Name><t:EmailAddress>%s</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:Resolution>`,
			esc(u.DisplayName), esc(u.Email))
	}
	set.WriteString(`</m:ResolutionSet>`)
	return responseMessage("ResolveNames", class, code, text, set.String())
}
