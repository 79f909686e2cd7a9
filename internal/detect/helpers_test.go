package detect

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/testenv/dnstest"
)

// testDNS is the loopback DNS server of internal/testenv/dnstest.
type testDNS = dnstest.Server

func newTestDNS(t testing.TB) *testDNS { return dnstest.New(t) }

// tlsServer is a loopback HTTPS server; its client trusts it.
func tlsServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// newTestDetector returns a detector asking dns, with HTTP discovery sent
// to nowhere unless o says otherwise.
func newTestDetector(t testing.TB, dnsSrv *testDNS, o Options) *Detector {
	t.Helper()
	if o.DNSServer == "" && o.Resolver == nil {
		o.DNSServer = dnsSrv.Addr
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.DNSTimeout == 0 {
		o.DNSTimeout = time.Second
	}
	return New(o)
}

// loopbackURLs sends every autoconfig (or autodiscover) request to ts,
// keeping the path and telling the domain in a query parameter.
func loopbackAutoconfig(ts *httptest.Server) func(domain, email string) []string {
	return func(domain, email string) []string {
		q := "&emailaddress=" + url.QueryEscape(email)
		return []string{
			ts.URL + "/mail/config-v1.1.xml?host=autoconfig." + domain + q,
			ts.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?host=" + domain + q,
		}
	}
}

func loopbackAutodiscover(ts *httptest.Server) func(domain string) []string {
	return func(domain string) []string {
		return []string{
			ts.URL + "/autodiscover/autodiscover.xml?host=autodiscover." + domain,
			ts.URL + "/autodiscover/autodiscover.xml?host=" + domain,
		}
	}
}

func autoconfigXML(imapHost string, imapPort int, smtpHost string, smtpPort int) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example">
    <domain>example</domain>
    <incomingServer type="pop3"><hostname>pop.wrong.test</hostname><port>995</port><socketType>SSL</socketType></incomingServer>
    <incomingServer type="imap"><hostname>plain.wrong.test</hostname><port>143</port><socketType>plain</socketType></incomingServer>
    <incomingServer type="imap"><hostname>%s</hostname><port>%d</port><socketType>SSL</socketType></incomingServer>
    <outgoingServer type="smtp"><hostname>%s</hostname><port>%d</port><socketType>STARTTLS</socketType></outgoingServer>
  </emailProvider>
</clientConfig>`, imapHost, imapPort, smtpHost, smtpPort)
}

const autodiscoverXML = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol><Type>EXPR</Type><EwsUrl>https://outside.%[1]s/EWS/Exchange.asmx</EwsUrl></Protocol>
      <Protocol><Type>EXCH</Type><EwsUrl>https://mail.%[1]s/EWS/Exchange.asmx</EwsUrl></Protocol>
    </Account>
  </Response>
</Autodiscover>`
