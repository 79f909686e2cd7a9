package ews

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	//lint:ignore SA1019 the NT hash of NTLM is MD4 by definition; this is a protocol stand-in, not a security choice.
	"golang.org/x/crypto/md4"
)

// The server side of NTLM (MS-NLMP), enough to check an NTLMv2 response
// the way a domain controller does: NTOWFv2 from the user's password,
// HMAC-MD5 over the server challenge and the client's blob. NTLMv1 and LM
// responses are refused, as modern Exchange servers refuse them.

var ntlmSignature = []byte("NTLMSSP\x00")

// Negotiate flags used in the CHALLENGE message.
const (
	flagUnicode        = 1 << 0
	flagRequestTarget  = 1 << 2
	flagNTLM           = 1 << 9
	flagAlwaysSign     = 1 << 15
	flagTargetDomain   = 1 << 16
	flagExtendedSecure = 1 << 19
	flagTargetInfo     = 1 << 23
	flagVersion        = 1 << 25
	flag128            = 1 << 29
	flag56             = 1 << 31
)

// AV pair ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
)

// ntlmMessageType returns the type (1, 2 or 3) of an NTLMSSP message.
func ntlmMessageType(b []byte) (uint32, error) {
	if len(b) < 12 || !bytes.Equal(b[:8], ntlmSignature) {
		return 0, errors.New("not an NTLMSSP message")
	}
	return binary.LittleEndian.Uint32(b[8:12]), nil
}

// challenge is the state kept on a connection between CHALLENGE and
// AUTHENTICATE.
type challenge struct {
	server [8]byte
}

// newChallenge builds a CHALLENGE message for domain.
func newChallenge(domain, computer string) (challenge, []byte, error) {
	var c challenge
	if _, err := rand.Read(c.server[:]); err != nil {
		return c, nil, err
	}
	target := utf16le(domain)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(avNbDomainName, utf16le(domain))
	av(avNbComputerName, utf16le(computer))
	av(avDNSDomainName, utf16le(strings.ToLower(domain)+".test"))
	av(avDNSComputerName, utf16le(strings.ToLower(computer)+"."+strings.ToLower(domain)+".test"))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, uint64(time.Now().UnixNano()/100)+116444736000000000)
	av(avTimestamp, ts)
	av(avEOL, nil)

	const header = 56 // fixed part including the 8-byte version
	flags := uint32(flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetDomain |
		flagExtendedSecure | flagTargetInfo | flagVersion | flag128 | flag56)
	var m bytes.Buffer
	m.Write(ntlmSignature)
	w := func(v any) { _ = binary.Write(&m, binary.LittleEndian, v) }
	w(uint32(2))
	w(uint16(len(target)))
	w(uint16(len(target)))
	w(uint32(header))
	w(flags)
	m.Write(c.server[:])
	m.Write(make([]byte, 8)) // reserved
	w(uint16(info.Len()))
	w(uint16(info.Len()))
	w(uint32(header + len(target)))
	m.Write([]byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) // version 10.0.17763, NTLM revision 15
	m.Write(target)
	m.Write(info.Bytes())
	return c, m.Bytes(), nil
}

// authenticate is a parsed AUTHENTICATE message.
type authenticate struct {
	Domain, User, Workstation string
	NTResponse                []byte
}

func field(b []byte, off int) ([]byte, error) {
	if len(b) < off+8 {
		return nil, errors.New("AUTHENTICATE message too short")
	}
	l := int(binary.LittleEndian.Uint16(b[off:]))
	p := int(binary.LittleEndian.Uint32(b[off+4:]))
	if l == 0 {
		return nil, nil
	}
	if p < 0 || p+l > len(b) {
		return nil, fmt.Errorf("AUTHENTICATE field at %d out of range", off)
	}
	return b[p : p+l], nil
}

func parseAuthenticate(b []byte) (authenticate, error) {
	var a authenticate
	if t, err := ntlmMessageType(b); err != nil || t != 3 {
		return a, errors.New("not an AUTHENTICATE message")
	}
	if len(b) < 64 {
		return a, errors.New("AUTHENTICATE message too short")
	}
	flags := binary.LittleEndian.Uint32(b[60:])
	if flags&flagUnicode == 0 {
		return a, errors.New("only Unicode NTLM is supported")
	}
	nt, err := field(b, 20)
	if err != nil {
		return a, err
	}
	dom, err := field(b, 28)
	if err != nil {
		return a, err
	}
	user, err := field(b, 36)
	if err != nil {
		return a, err
	}
	ws, err := field(b, 44)
	if err != nil {
		return a, err
	}
	a.NTResponse = nt
	a.Domain, a.User, a.Workstation = fromUTF16le(dom), fromUTF16le(user), fromUTF16le(ws)
	return a, nil
}

// verifyNTLMv2 reports whether a's NTLMv2 response answers c for password.
func verifyNTLMv2(c challenge, a authenticate, password string) bool {
	if len(a.NTResponse) <= 24+8 { // NTLMv1 (24 bytes) or empty: refused
		return false
	}
	proof, blob := a.NTResponse[:16], a.NTResponse[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return false
	}
	h := md4.New()
	h.Write(utf16le(password))
	ntowfv2 := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(a.User)+a.Domain))
	want := hmacMD5(ntowfv2, c.server[:], blob)
	return hmac.Equal(proof, want)
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
