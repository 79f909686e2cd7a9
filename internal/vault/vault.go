// Package vault encrypts grantd's secrets (refresh tokens, passwords, client
// secrets) at rest with envelope encryption under rotatable master keys.
//
// # Keys
//
// A Keyring is an ordered list of 256-bit master keys with string IDs
// (1–64 bytes of [A-Za-z0-9._-]). The primary key wraps the data keys of new
// ciphertext; every key unwraps. A keyring comes from a JSON file
// (LoadOrCreateFile, AddKeyToFile) or from an inline string
// "id:base64key[,id:base64key…]" whose first key is primary (ParseInline;
// that is what GRANTD_VAULT_KEYRING carries).
//
// Rotation: AddKeyToFile (grantd keys rotate) adds a key and makes it
// primary. Running servers pick it up on their next Reload (Watch), or
// immediately when they meet a blob sealed under a key they do not know yet.
// Existing blobs keep opening under their old key; Rewrap moves them to the
// primary key without touching the encrypted data. A key may be removed
// from the file only once no blob refers to it any more (KeyIDOf).
//
// # Blob format
//
// Every Seal draws a fresh random 256-bit data key (DEK). The plaintext is
// encrypted with AES-256-GCM under the DEK, a random 96-bit nonce and the
// caller's AAD. The DEK is encrypted ("wrapped") with AES-256-GCM under the
// master key, a second random nonce and the AAD
// "grantd/vault/dek\x00" || version || idLen || keyID, which binds the
// wrapped key to the format version and to the master key ID. Layout
// (version 1, all lengths in bytes):
//
//	offset        size    field
//	0             1       version = 0x01
//	1             1       idLen n, 1..64
//	2             n       master key ID (ASCII)
//	2+n           12      wrap nonce
//	14+n          48      wrapped DEK (32-byte DEK + 16-byte GCM tag)
//	62+n          12      data nonce
//	74+n          m+16    data ciphertext (m plaintext bytes + GCM tag)
//
// A blob is thus 90+n+m bytes. Rewrap replaces bytes [0, 62+n) and keeps
// the rest, so the data ciphertext and its AAD are unchanged.
//
// # Errors
//
// Open reports ErrFormat for a blob that does not parse, ErrUnknownKey when
// its master key is not in the keyring (after one reload), and ErrDecrypt
// when authentication fails (wrong AAD, tampering, wrong key). Errors never
// contain plaintext or key material.
package vault

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnknownKey: the blob's master key is not in the keyring.
	ErrUnknownKey = errors.New("vault: unknown master key")
	// ErrDecrypt: authentication failed (wrong AAD, tampered blob).
	ErrDecrypt = errors.New("vault: decryption failed")
	// ErrFormat: the blob is not a vault ciphertext of a known version.
	ErrFormat = errors.New("vault: malformed ciphertext")
	// ErrInvalidKeyring: a keyring file or inline keyring is malformed.
	ErrInvalidKeyring = errors.New("vault: invalid keyring")
	// ErrInsecurePermissions: the keyring file is accessible by group or
	// others.
	ErrInsecurePermissions = errors.New("vault: keyring file permissions too open")
)

const (
	formatV1    = 0x01
	nonceSize   = 12
	tagSize     = 16
	wrappedSize = KeySize + tagSize
	// fixedSize is the blob size without the key ID and the plaintext.
	fixedSize = 2 + nonceSize + wrappedSize + nonceSize + tagSize
)

// defaultMissCooldown is the minimum interval between two reloads caused
// by blobs under unknown keys, so that a batch of such blobs does not
// re-read the keyring file for each one.
const defaultMissCooldown = time.Second

// Vault seals and opens blobs under a keyring that it can reload. It is
// safe for concurrent use; Seal and Open take no lock.
type Vault struct {
	kr     atomic.Pointer[Keyring]
	load   func() (*Keyring, error) // nil for a static keyring
	source string                   // for logs: "file <path>", "inline"
	log    *slog.Logger

	reloadMu     sync.Mutex // serializes reloads
	lastMiss     time.Time  // guarded by reloadMu
	missCooldown time.Duration
}

// Option configures a Vault.
type Option func(*Vault)

// WithLogger sets the logger used by Reload and Watch (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(v *Vault) { v.log = l } }

func newVault(kr *Keyring, load func() (*Keyring, error), source string, opts []Option) *Vault {
	v := &Vault{load: load, source: source, log: slog.Default(), missCooldown: defaultMissCooldown}
	for _, o := range opts {
		o(v)
	}
	v.kr.Store(kr)
	return v
}

// NewFromFile returns a vault over the keyring file at path, creating the
// file as LoadOrCreateFile does; created reports that (log it). Reload
// re-reads the file.
func NewFromFile(path string, opts ...Option) (v *Vault, created bool, err error) {
	kr, created, err := LoadOrCreateFile(path)
	if err != nil {
		return nil, false, err
	}
	load := func() (*Keyring, error) { return LoadFile(path) }
	return newVault(kr, load, "file "+path, opts), created, nil
}

// NewFromInline returns a vault over an inline keyring (see ParseInline).
// Its keyring never changes: Reload is a no-op and Watch returns at once.
func NewFromInline(s string, opts ...Option) (*Vault, error) {
	kr, err := ParseInline(s)
	if err != nil {
		return nil, err
	}
	return newVault(kr, nil, "inline", opts), nil
}

// NewFromKeyring returns a vault over a fixed keyring (tests, tools).
func NewFromKeyring(kr *Keyring, opts ...Option) *Vault {
	return newVault(kr, nil, "static", opts)
}

// Keyring returns the current keyring.
func (v *Vault) Keyring() *Keyring { return v.kr.Load() }

// PrimaryKeyID returns the ID of the key that new blobs are sealed under.
func (v *Vault) PrimaryKeyID() string { return v.kr.Load().primary.id }

// Reload re-reads the key source and swaps the keyring in. On error the
// current keyring is kept. It is a no-op for inline and static vaults.
func (v *Vault) Reload() error {
	if v.load == nil {
		return nil
	}
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	return v.reloadLocked()
}

func (v *Vault) reloadLocked() error {
	nk, err := v.load()
	if err != nil {
		return err
	}
	old := v.kr.Swap(nk)
	if old.primary.id != nk.primary.id {
		v.log.Info("vault: primary key changed", "source", v.source, "old", old.primary.id, "new", nk.primary.id)
	}
	var dropped []string
	for _, k := range old.keys {
		if !nk.Has(k.id) {
			dropped = append(dropped, k.id)
		}
	}
	if len(dropped) > 0 {
		v.log.Warn("vault: keys removed from keyring; blobs sealed under them no longer open",
			"source", v.source, "keys", dropped)
	}
	return nil
}

// Watch reloads the keyring every interval until ctx is done. A failed
// reload is logged and the previous keyring kept. Watch returns at once for
// inline and static vaults or when interval <= 0. Run it in a goroutine.
func (v *Vault) Watch(ctx context.Context, interval time.Duration) {
	if v.load == nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.Reload(); err != nil {
				v.log.Error("vault: keyring reload failed; keeping the current keyring",
					"source", v.source, "err", err)
			}
		}
	}
}

// key returns the master key with this ID, reloading the source once (at
// most once per missCooldown) when the current keyring lacks it.
func (v *Vault) key(id []byte) (*masterKey, error) {
	if mk := v.kr.Load().byID[string(id)]; mk != nil {
		return mk, nil
	}
	if v.load == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	// Another goroutine may have reloaded while we waited.
	if mk := v.kr.Load().byID[string(id)]; mk != nil {
		return mk, nil
	}
	if now := time.Now(); now.Sub(v.lastMiss) >= v.missCooldown {
		v.lastMiss = now
		if err := v.reloadLocked(); err != nil {
			v.log.Error("vault: keyring reload failed", "source", v.source, "err", err)
			return nil, fmt.Errorf("%w %q (keyring reload failed: %v)", ErrUnknownKey, id, err)
		}
		if mk := v.kr.Load().byID[string(id)]; mk != nil {
			return mk, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
}

// parsed is a blob split into its fields; the slices alias the blob.
type parsed struct {
	header  []byte // version, idLen, id
	id      []byte
	wrapN   []byte
	wrapped []byte
	rest    []byte // data nonce + data ciphertext
	dataN   []byte
	data    []byte
}

func parse(blob []byte) (parsed, error) {
	if len(blob) < 2 {
		return parsed{}, ErrFormat
	}
	if blob[0] != formatV1 {
		return parsed{}, fmt.Errorf("%w: unknown version %d", ErrFormat, blob[0])
	}
	n := int(blob[1])
	if n == 0 || n > maxKeyIDLen || len(blob) < fixedSize+n {
		return parsed{}, ErrFormat
	}
	id := blob[2 : 2+n]
	for _, c := range id {
		if !validKeyIDByte(c) {
			return parsed{}, ErrFormat
		}
	}
	p := parsed{header: blob[:2+n], id: id}
	r := blob[2+n:]
	p.wrapN, r = r[:nonceSize], r[nonceSize:]
	p.wrapped, r = r[:wrappedSize], r[wrappedSize:]
	p.rest = r
	p.dataN, p.data = r[:nonceSize], r[nonceSize:]
	return p, nil
}

// KeyIDOf returns the ID of the master key a blob is sealed under, without
// decrypting it.
func (v *Vault) KeyIDOf(blob []byte) (string, error) { return KeyIDOf(blob) }

// KeyIDOf returns the ID of the master key a blob is sealed under, without
// decrypting it.
func KeyIDOf(blob []byte) (string, error) {
	p, err := parse(blob)
	if err != nil {
		return "", err
	}
	return string(p.id), nil
}

// Seal encrypts plaintext under a fresh data key wrapped by the primary
// master key. aad (may be nil) is authenticated but not stored: Open needs
// the same aad. Bind it to where the blob lives (e.g. the grant ID and
// column), so that a blob copied elsewhere does not open.
func (v *Vault) Seal(plaintext, aad []byte) ([]byte, error) {
	mk := v.kr.Load().primary
	// dek | wrap nonce | data nonce
	var rnd [KeySize + 2*nonceSize]byte
	defer clear(rnd[:])
	rand.Read(rnd[:])
	dek, wrapN, dataN := rnd[:KeySize], rnd[KeySize:KeySize+nonceSize], rnd[KeySize+nonceSize:]

	dataAEAD, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, fixedSize+len(mk.id)+len(plaintext))
	out = append(out, mk.header...)
	out = append(out, wrapN...)
	out = mk.aead.Seal(out, wrapN, dek, mk.wrapAAD)
	out = append(out, dataN...)
	out = dataAEAD.Seal(out, dataN, plaintext, aad)
	return out, nil
}

// unwrap decrypts the blob's data key into dst.
func unwrap(mk *masterKey, p parsed, dst *[KeySize]byte) error {
	if _, err := mk.aead.Open(dst[:0], p.wrapN, p.wrapped, mk.wrapAAD); err != nil {
		return ErrDecrypt
	}
	return nil
}

// Open decrypts a blob made by Seal with the same aad. When the blob's
// master key is unknown, Open reloads the keyring once and retries.
func (v *Vault) Open(blob, aad []byte) ([]byte, error) {
	p, err := parse(blob)
	if err != nil {
		return nil, err
	}
	mk, err := v.key(p.id)
	if err != nil {
		return nil, err
	}
	var dek [KeySize]byte
	defer clear(dek[:])
	if err := unwrap(mk, p, &dek); err != nil {
		return nil, err
	}
	dataAEAD, err := newGCM(dek[:])
	if err != nil {
		return nil, err
	}
	pt, err := dataAEAD.Open(nil, p.dataN, p.data, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Rewrap re-wraps a blob's data key under the primary master key, keeping
// the data ciphertext (and so its AAD) as is; no AAD is needed. A blob
// already under the primary key is returned unchanged with changed=false.
// In both cases the wrapped data key is authenticated, but the data
// ciphertext is not (that needs its AAD; use Open). Like Open, Rewrap
// reloads the keyring once when the blob's key is unknown.
func (v *Vault) Rewrap(blob []byte) (out []byte, changed bool, err error) {
	p, err := parse(blob)
	if err != nil {
		return nil, false, err
	}
	mk, err := v.key(p.id)
	if err != nil {
		return nil, false, err
	}
	var dek [KeySize]byte
	defer clear(dek[:])
	if err := unwrap(mk, p, &dek); err != nil {
		return nil, false, err
	}
	primary := v.kr.Load().primary
	if primary.id == mk.id {
		return blob, false, nil
	}
	var wrapN [nonceSize]byte
	rand.Read(wrapN[:])
	out = make([]byte, 0, len(primary.header)+nonceSize+wrappedSize+len(p.rest))
	out = append(out, primary.header...)
	out = append(out, wrapN[:]...)
	out = primary.aead.Seal(out, wrapN[:], dek[:], primary.wrapAAD)
	out = append(out, p.rest...)
	return out, true, nil
}

// SealJSON seals the JSON encoding of v. The error never includes v.
func (v *Vault) SealJSON(val any, aad []byte) ([]byte, error) {
	pt, err := json.Marshal(val)
	if err != nil {
		return nil, fmt.Errorf("vault: cannot encode %T as JSON", val)
	}
	defer clear(pt)
	return v.Seal(pt, aad)
}

// OpenJSON opens blob and decodes its JSON into val. Decoding errors never
// include the plaintext.
func (v *Vault) OpenJSON(blob, aad []byte, val any) error {
	pt, err := v.Open(blob, aad)
	if err != nil {
		return err
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, val); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("vault: sealed JSON field %q does not fit %T", te.Field, val)
		}
		return fmt.Errorf("vault: sealed value is not valid JSON for %T", val)
	}
	return nil
}
