package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeySize is the size in bytes of a master key and of a data key (AES-256).
const KeySize = 32

// maxKeyIDLen bounds a key ID; it must fit the one-byte length of the blob
// header.
const maxKeyIDLen = 64

// wrapDomain prefixes the AAD of every wrapped data key, so that a wrapped
// key can never be confused with another use of the master key.
const wrapDomain = "grantd/vault/dek\x00"

// masterKey is one key of a keyring. It is immutable once built.
type masterKey struct {
	id      string
	created time.Time
	raw     [KeySize]byte
	aead    cipher.AEAD // AES-256-GCM under raw
	header  []byte      // blob header for this key: version, len(id), id
	wrapAAD []byte      // wrapDomain + header
}

func newMasterKey(id string, raw []byte, created time.Time) (*masterKey, error) {
	if err := checkKeyID(id); err != nil {
		return nil, err
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w: key %s is %d bytes, want %d", ErrInvalidKeyring, shownID(id), len(raw), KeySize)
	}
	var zero [KeySize]byte
	if bytes.Equal(raw, zero[:]) {
		return nil, fmt.Errorf("%w: key %s is all zeros", ErrInvalidKeyring, shownID(id))
	}
	mk := &masterKey{id: id, created: created}
	copy(mk.raw[:], raw)
	aead, err := newGCM(mk.raw[:])
	if err != nil {
		return nil, err
	}
	mk.aead = aead
	mk.header = make([]byte, 0, 2+len(id))
	mk.header = append(mk.header, formatV1, byte(len(id)))
	mk.header = append(mk.header, id...)
	mk.wrapAAD = append([]byte(wrapDomain), mk.header...)
	return mk, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("vault: cannot create AES cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errors.New("vault: cannot create AES-GCM")
	}
	return aead, nil
}

// validKeyIDByte reports whether c may appear in a key ID.
func validKeyIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// checkKeyID validates a key ID: 1 to 64 bytes of [A-Za-z0-9._-]. The error
// does not echo an invalid ID (it might be misplaced key material).
func checkKeyID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty key id", ErrInvalidKeyring)
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("%w: key id longer than %d bytes", ErrInvalidKeyring, maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !validKeyIDByte(id[i]) {
			return fmt.Errorf("%w: key id may only contain letters, digits, '.', '_' and '-'", ErrInvalidKeyring)
		}
	}
	return nil
}

// Keyring is an immutable, ordered set of 256-bit master keys. The primary
// key encrypts (wraps new data keys); every key decrypts. Printing a Keyring
// with fmt or slog shows its key IDs only, never key material.
type Keyring struct {
	primary *masterKey
	keys    []*masterKey // file order
	byID    map[string]*masterKey
}

// KeyInfo describes one key of a keyring, without its material.
type KeyInfo struct {
	ID        string
	CreatedAt time.Time // zero when unknown (inline keyrings)
	Primary   bool
}

func newKeyring(keys []*masterKey, primary string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKeyring)
	}
	kr := &Keyring{keys: keys, byID: make(map[string]*masterKey, len(keys))}
	for _, k := range keys {
		if _, dup := kr.byID[k.id]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %s", ErrInvalidKeyring, shownID(k.id))
		}
		kr.byID[k.id] = k
	}
	kr.primary = kr.byID[primary]
	if kr.primary == nil {
		if checkKeyID(primary) != nil {
			return nil, fmt.Errorf("%w: primary key id is missing or invalid", ErrInvalidKeyring)
		}
		return nil, fmt.Errorf("%w: primary key %s is not in the keyring", ErrInvalidKeyring, shownID(primary))
	}
	return kr, nil
}

// NewKeyring returns a keyring holding one freshly generated key.
func NewKeyring() (*Keyring, error) {
	k, err := generateKey(nil)
	if err != nil {
		return nil, err
	}
	return newKeyring([]*masterKey{k}, k.id)
}

// generateKey makes a random key whose ID ("k" + UTC date + "-" + 8 random
// hex digits) is not in taken.
func generateKey(taken map[string]*masterKey) (*masterKey, error) {
	now := time.Now().UTC().Truncate(time.Second)
	var raw [KeySize]byte
	var suffix [4]byte
	for {
		rand.Read(raw[:])
		rand.Read(suffix[:])
		id := "k" + now.Format("20060102") + "-" + hex.EncodeToString(suffix[:])
		if _, dup := taken[id]; dup {
			continue
		}
		k, err := newMasterKey(id, raw[:], now)
		clear(raw[:])
		return k, err
	}
}

// WithNewPrimary returns a copy of kr with a freshly generated key appended
// and made primary, and the new key's ID. kr itself is unchanged.
func (kr *Keyring) WithNewPrimary() (*Keyring, string, error) {
	k, err := generateKey(kr.byID)
	if err != nil {
		return nil, "", err
	}
	keys := append(slices.Clip(kr.keys), k)
	nk, err := newKeyring(keys, k.id)
	if err != nil {
		return nil, "", err
	}
	return nk, k.id, nil
}

// PrimaryID returns the ID of the key that encrypts.
func (kr *Keyring) PrimaryID() string { return kr.primary.id }

// Has reports whether the keyring holds a key with this ID.
func (kr *Keyring) Has(id string) bool { _, ok := kr.byID[id]; return ok }

// Keys describes the keys in keyring order.
func (kr *Keyring) Keys() []KeyInfo {
	out := make([]KeyInfo, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = KeyInfo{ID: k.id, CreatedAt: k.created, Primary: k == kr.primary}
	}
	return out
}

// String lists the key IDs, primary first; it never shows key material.
func (kr *Keyring) String() string {
	ids := make([]string, 0, len(kr.keys))
	ids = append(ids, kr.primary.id+"(primary)")
	for _, k := range kr.keys {
		if k != kr.primary {
			ids = append(ids, k.id)
		}
	}
	return "vault.Keyring[" + strings.Join(ids, " ") + "]"
}

// Format makes every fmt verb (including %#v and %+v) print String, so that
// key material cannot leak through logging.
func (kr *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, kr.String()) }

// MarshalInline returns the keyring in the inline form accepted by
// ParseInline (primary key first). The result CONTAINS KEY MATERIAL.
func (kr *Keyring) MarshalInline() string {
	var b strings.Builder
	write := func(k *masterKey) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.id)
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(k.raw[:]))
	}
	write(kr.primary)
	for _, k := range kr.keys {
		if k != kr.primary {
			write(k)
		}
	}
	return b.String()
}

// ParseInline parses an inline keyring "id:base64key[,id:base64key…]", as
// carried by GRANTD_VAULT_KEYRING. The first key is primary. Keys are
// standard base64 (padding optional) of exactly 32 bytes; spaces around
// entries are ignored. Errors name entries by position and never echo key
// material.
func ParseInline(s string) (*Keyring, error) {
	entries := strings.Split(s, ",")
	keys := make([]*masterKey, 0, len(entries))
	for i, e := range entries {
		e = strings.TrimSpace(e)
		id, b64, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("%w: inline entry %d: want id:base64key", ErrInvalidKeyring, i+1)
		}
		id = strings.TrimSpace(id)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("inline entry %d: %w", i+1, err)
		}
		raw, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("%w: inline entry %d (key %s): key is not valid base64", ErrInvalidKeyring, i+1, shownID(id))
		}
		k, err := newMasterKey(id, raw, time.Time{})
		clear(raw)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return newKeyring(keys, keys[0].id)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// fileFormat is the JSON keyring file:
//
//	{"primary":"k2","keys":[{"id":"k1","key":"<base64>","created_at":"2026-01-02T15:04:05Z"},…]}
type fileFormat struct {
	Primary string    `json:"primary"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// LoadFile reads a keyring file. On Unix it refuses (ErrInsecurePermissions)
// a file whose mode grants any access to group or others, like ssh does
// with private keys: fix it with chmod 600.
func LoadFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidKeyring, path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600 (chmod 600 %s)", ErrInsecurePermissions, path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("vault: reading %s: %w", path, err)
	}
	defer clear(data)
	kr, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	return kr, nil
}

func parseFile(data []byte) (*Keyring, error) {
	var ff fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ff); err != nil {
		return nil, sanitizeJSONError(err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidKeyring)
	}
	keys := make([]*masterKey, 0, len(ff.Keys))
	for i, fk := range ff.Keys {
		if err := checkKeyID(fk.ID); err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		raw, err := decodeKey(fk.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q is not valid base64", ErrInvalidKeyring, fk.ID)
		}
		k, err := newMasterKey(fk.ID, raw, fk.CreatedAt)
		clear(raw)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return newKeyring(keys, ff.Primary)
}

// sanitizeJSONError turns a JSON decoding error into one that cannot echo
// file content.
func sanitizeJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: invalid JSON at byte offset %d", ErrInvalidKeyring, se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("%w: JSON field %q has the wrong type", ErrInvalidKeyring, te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: empty or truncated JSON", ErrInvalidKeyring)
	default:
		// e.g. an unknown field; its name is not echoed.
		return fmt.Errorf("%w: malformed keyring JSON (unknown field?)", ErrInvalidKeyring)
	}
}

// WriteFile writes the keyring to path atomically (temporary file in the
// same directory, fsync, rename), with mode 0600; a missing directory is
// created with mode 0700. The file CONTAINS KEY MATERIAL.
func (kr *Keyring) WriteFile(path string) error {
	ff := fileFormat{Primary: kr.primary.id, Keys: make([]fileKey, len(kr.keys))}
	for i, k := range kr.keys {
		ff.Keys[i] = fileKey{ID: k.id, Key: base64.StdEncoding.EncodeToString(k.raw[:]), CreatedAt: k.created}
	}
	data, err := json.MarshalIndent(ff, "", "  ")
	if err != nil {
		return fmt.Errorf("vault: encoding keyring: %w", err)
	}
	data = append(data, '\n')
	defer clear(data)
	return writeFileAtomic(path, data)
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("vault: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("vault: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	// Make the rename durable; not every platform can sync a directory.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadOrCreateFile loads the keyring file at path, or, when it does not
// exist, generates a keyring with one random key and writes it there
// (directory 0700, file 0600); created reports the latter so that the caller
// can log it. Creation holds the file lock (see AddKeyToFile), so two
// processes starting at once end up with the same keyring. An existing file
// readable by group or others is refused with ErrInsecurePermissions.
func LoadOrCreateFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("vault: %w", err)
	}
	unlock, err := lockFile(path)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	kr, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}
	if kr, err = NewKeyring(); err != nil {
		return nil, false, err
	}
	if err := kr.WriteFile(path); err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

// AddKeyToFile generates a new key, appends it to the keyring file at path
// and makes it primary; the old keys stay so that existing ciphertext still
// opens. It returns the new key's ID. The read-modify-write holds an
// exclusive lock on path+".lock" (flock, Unix only), so concurrent
// rotations cannot lose a key. Running servers pick the new key up on their
// next Reload (see Vault.Watch).
func AddKeyToFile(path string) (newID string, err error) {
	unlock, err := lockFile(path)
	if err != nil {
		return "", err
	}
	defer unlock()
	kr, err := LoadFile(path)
	if err != nil {
		return "", err
	}
	nk, id, err := kr.WithNewPrimary()
	if err != nil {
		return "", err
	}
	if err := nk.WriteFile(path); err != nil {
		return "", err
	}
	return id, nil
}

// shownID is a key id as error messages show it: quoted, unless it looks
// like key material (an id and a key swapped by mistake), which is never
// repeated.
func shownID(id string) string {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(id); err == nil && len(b) >= 16 {
			return "(an id that looks like a key, not shown)"
		}
	}
	return strconv.Quote(id)
}
