// Package spool is a small durable local log of records that must survive
// a crash until something else (the database) has taken them: the
// refresher keeps in it every rotated refresh token a provider issued
// until the grant service has stored it (see internal/refresh and
// docs/durability.md, "The refresh spool").
//
// A spool is a directory of slots (node-0, node-1, …). A process locks one
// slot (flock on its LOCK file), so that several grantd processes, or
// several nodes of one test process, may share one spool directory. A slot
// holds append-only segment files of frames:
//
//	uint32 length | uint32 CRC-32C of body | body
//	body: kind (1 put, 2 delete) | uint64 record id | sealed data (puts)
//
// Each put is sealed with the Sealer (the grantd vault) and fsynced before
// Append returns; appends that arrive while an fsync runs share the next
// one (group commit). A delete is a tombstone, written without an fsync: a
// lost tombstone replays a record that was already taken, which its reader
// must recognise (the refresher's commit rules do). A segment whose
// records are all deleted is removed once a newer segment is in use.
//
// Open replays the slot, and every other slot no live process holds (a
// node that was killed, or whose machine was replaced), returns their live
// records and compacts them into one fresh segment of its own slot. A torn
// frame at the end of a segment (a crash during a write) ends that
// segment's replay: it was never acknowledged.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Sealer seals and opens records (internal/vault implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Record is one live record: its id and its (opened) data.
type Record struct {
	ID   uint64
	Data []byte
}

const (
	kindPut byte = 1
	kindDel byte = 2
	// headerLen is the frame header: length and CRC.
	headerLen = 8
	// maxFrame bounds a frame's body; a larger length is a torn frame.
	maxFrame = 1 << 20
	// segmentSize is the size after which a new segment is started.
	segmentSize = 4 << 20
)

var aad = []byte("grantd/spool/v1")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Spool is an open slot. Its methods are safe for concurrent use.
type Spool struct {
	dir  string // the slot
	lock *os.File
	v    Sealer

	syncMu sync.Mutex // one fsync at a time (group commit)

	mu      sync.Mutex
	f       *os.File
	seg     uint64 // current segment number
	size    int64
	nextID  uint64
	live    map[uint64]uint64 // record id → segment
	segLive map[uint64]int    // segment → live records
	written uint64            // puts written
	synced  uint64            // puts fsynced
	closed  bool
	pending []Record
	// unreadable counts the records Open kept but could not open.
	unreadable int
}

// Open opens the spool in dir (created if missing): it locks a free slot,
// replays it and every unlocked slot, and compacts their live records
// into a fresh segment. Pending returns those records.
func Open(dir string, v Sealer) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{v: v, live: map[uint64]uint64{}, segLive: map[uint64]int{}, nextID: 1}
	for i := 0; ; i++ {
		slot := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		f, err := lockSlot(slot)
		if errors.Is(err, errLocked) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.dir, s.lock = slot, f
		break
	}
	recs, err := s.adopt(dir)
	if err != nil {
		s.lock.Close()
		return nil, err
	}
	s.pending = recs
	return s, nil
}

var errLocked = errors.New("spool: slot locked")

// lockSlot creates slot if needed and takes its lock; errLocked when a
// live process holds it.
func lockSlot(slot string) (*os.File, error) {
	if err := os.MkdirAll(slot, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(slot, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("spool: lock %s: %w", slot, err)
	}
	return f, nil
}

// segments lists a slot's segment numbers, oldest first.
func segments(slot string) ([]uint64, error) {
	ents, err := os.ReadDir(slot)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		var n uint64
		if name := e.Name(); strings.HasSuffix(name, ".seg") {
			if _, err := fmt.Sscanf(name, "%016d.seg", &n); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func segName(slot string, n uint64) string { return filepath.Join(slot, fmt.Sprintf("%016d.seg", n)) }

// readSlot returns a slot's segments and its live records (sealed) by id.
func readSlot(slot string) ([]uint64, map[uint64][]byte, error) {
	segs, err := segments(slot)
	if err != nil {
		return nil, nil, err
	}
	puts := map[uint64][]byte{}
	for _, n := range segs {
		b, err := os.ReadFile(segName(slot, n))
		if err != nil {
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		for len(b) >= headerLen {
			l := binary.LittleEndian.Uint32(b[0:4])
			if l < 9 || l > maxFrame || int(l) > len(b)-headerLen {
				break // torn
			}
			body := b[headerLen : headerLen+int(l)]
			if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[4:8]) {
				break // torn
			}
			id := binary.LittleEndian.Uint64(body[1:9])
			switch body[0] {
			case kindPut:
				puts[id] = append([]byte(nil), body[9:]...)
			case kindDel:
				delete(puts, id)
			}
			b = b[headerLen+int(l):]
		}
	}
	return segs, puts, nil
}

// adopt replays s's slot and every unlocked slot of dir, writes their live
// records into a fresh segment of s's slot (fsynced), then removes the
// segments read.
func (s *Spool) adopt(dir string) ([]Record, error) {
	type src struct {
		slot string
		segs []uint64
		lock *os.File
	}
	var srcs []src
	var sealed [][]byte
	collect := func(slot string, lock *os.File) error {
		segs, puts, err := readSlot(slot)
		if err != nil {
			return err
		}
		ids := make([]uint64, 0, len(puts))
		for id := range puts {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			sealed = append(sealed, puts[id])
		}
		srcs = append(srcs, src{slot, segs, lock})
		return nil
	}
	if err := collect(s.dir, nil); err != nil {
		return nil, err
	}
	others, _ := filepath.Glob(filepath.Join(dir, "node-*"))
	for _, slot := range others {
		if slot == s.dir {
			continue
		}
		lock, err := lockSlot(slot)
		if err != nil {
			continue // in use (or unreadable): its owner replays it
		}
		if err := collect(slot, lock); err != nil {
			lock.Close()
			continue
		}
	}
	defer func() {
		for _, src := range srcs {
			if src.lock != nil {
				src.lock.Close()
			}
		}
	}()
	var last uint64
	for _, src := range srcs {
		if src.slot == s.dir && len(src.segs) > 0 {
			last = src.segs[len(src.segs)-1]
		}
	}
	if err := s.openSegment(last + 1); err != nil {
		return nil, err
	}
	var recs []Record
	for _, blob := range sealed {
		id := s.nextID
		s.nextID++
		if err := s.writeFrame(kindPut, id, blob); err != nil {
			return nil, err
		}
		s.live[id] = s.seg
		s.segLive[s.seg]++
		data, err := s.v.Open(blob, aad)
		if err != nil {
			// Sealed with a key this keyring no longer has, or damaged:
			// kept (never destroyed), not returned; Unreadable counts it.
			s.unreadable++
			continue
		}
		recs = append(recs, Record{ID: id, Data: data})
	}
	if err := s.f.Sync(); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, src := range srcs {
		for _, n := range src.segs {
			if src.slot == s.dir && n == s.seg {
				continue
			}
			if err := os.Remove(segName(src.slot, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("spool: %w", err)
			}
		}
		syncDir(src.slot)
	}
	return recs, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// openSegment starts segment n (s.mu held or not yet shared).
func (s *Spool) openSegment(n uint64) error {
	f, err := os.OpenFile(segName(s.dir, n), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	syncDir(s.dir)
	s.f, s.seg, s.size = f, n, 0
	return nil
}

// writeFrame appends one frame to the current segment (s.mu held).
func (s *Spool) writeFrame(kind byte, id uint64, data []byte) error {
	buf := make([]byte, headerLen+9+len(data))
	body := buf[headerLen:]
	body[0] = kind
	binary.LittleEndian.PutUint64(body[1:9], id)
	copy(body[9:], data)
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(body, crcTable))
	n, err := s.f.Write(buf)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Pending returns the records replayed by Open (once; later calls return
// nothing).
func (s *Spool) Pending() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// Unreadable is the number of records Open found but could not open (a
// vault key missing from the keyring): they stay in the spool.
func (s *Spool) Unreadable() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreadable
}

// Dir is the slot this spool writes.
func (s *Spool) Dir() string { return s.dir }

// ErrClosed is returned by a closed spool.
var ErrClosed = errors.New("spool: closed")

// Append seals data, appends it and returns once it is on disk (fsynced),
// with the record's id.
func (s *Spool) Append(data []byte) (uint64, error) {
	if len(data) > maxFrame/2 {
		return 0, fmt.Errorf("spool: record of %d bytes is too large", len(data))
	}
	blob, err := s.v.Seal(data, aad)
	if err != nil {
		return 0, fmt.Errorf("spool: seal: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if s.size >= segmentSize {
		if err := s.roll(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
	}
	id := s.nextID
	s.nextID++
	if err := s.writeFrame(kindPut, id, blob); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	s.live[id] = s.seg
	s.segLive[s.seg]++
	s.written++
	seq := s.written
	s.mu.Unlock()
	return id, s.sync(seq)
}

// roll starts a new segment after syncing the current one (s.mu held), and
// removes the current one when nothing in it is live.
func (s *Spool) roll() error {
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.synced = s.written
	old, oldSeg := s.f, s.seg
	if err := s.openSegment(oldSeg + 1); err != nil {
		return err
	}
	old.Close()
	if s.segLive[oldSeg] == 0 {
		delete(s.segLive, oldSeg)
		_ = os.Remove(segName(s.dir, oldSeg))
	}
	return nil
}

// sync returns once put number seq is on disk, sharing fsyncs between
// concurrent appends.
func (s *Spool) sync(seq uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for {
		s.mu.Lock()
		if s.synced >= seq {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		f, target := s.f, s.written
		s.mu.Unlock()
		err := f.Sync()
		s.mu.Lock()
		if err == nil && target > s.synced {
			s.synced = target
		}
		done := s.synced >= seq
		s.mu.Unlock()
		if done {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrClosed) { // (closed: rolled meanwhile, and synced)
			return fmt.Errorf("spool: fsync: %w", err)
		}
	}
}

// Remove deletes record id (committed or superseded). It is not fsynced:
// a record whose removal is lost is replayed again at the next Open.
func (s *Spool) Remove(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg, ok := s.live[id]
	if !ok {
		return nil
	}
	if s.closed {
		return ErrClosed
	}
	delete(s.live, id)
	s.segLive[seg]--
	if s.segLive[seg] == 0 && seg != s.seg {
		delete(s.segLive, seg)
		// Every record of that older segment is gone: the file goes too
		// (its tombstones, in later segments, then refer to nothing).
		if err := os.Remove(segName(s.dir, seg)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return s.writeFrame(kindDel, id, nil)
}

// Len is the number of live records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Close syncs and closes the spool and releases its slot.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if len(s.live) == 0 {
		// Nothing pending: leave an empty slot behind.
		_ = os.Remove(segName(s.dir, s.seg))
	}
	s.lock.Close()
	return err
}

var _ io.Closer = (*Spool)(nil)
