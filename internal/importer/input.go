package importer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"os"
)

// headBytes is how much of the input's beginning its fingerprint hashes
// when the whole input cannot be hashed first (standard input).
const headBytes = 1 << 20

// lineReader reads lines of at most MaxLineBytes with flat memory: a
// longer line is skipped, not buffered, whatever its length.
type lineReader struct {
	r *bufio.Reader
	n int // number of the last line read
}

func newLineReader(r io.Reader) *lineReader {
	// Room for the longest line, its CR LF, and a byte more to see that a
	// line is longer. (A *bufio.Reader of that size, as Input.Reader
	// returns, is used as it is, with what it has buffered.)
	return &lineReader{r: bufio.NewReaderSize(r, MaxLineBytes+3)}
}

// next returns the next line that is not blank: its number, its bytes
// without the line end (valid until the next call), or tooLong (and no
// bytes) when it is longer than MaxLineBytes. io.EOF at the end.
func (lr *lineReader) next() (n int, line []byte, tooLong bool, err error) {
	for {
		b, err := lr.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.n++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return lr.n, nil, true, err
			}
			return lr.n, nil, true, nil
		}
		if err != nil && err != io.EOF {
			return lr.n, nil, false, err
		}
		if len(b) == 0 && err == io.EOF {
			return lr.n, nil, false, io.EOF
		}
		lr.n++
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if lr.n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a byte order mark
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if err == io.EOF {
				return lr.n, nil, false, io.EOF
			}
			continue
		}
		if len(b) > MaxLineBytes {
			return lr.n, nil, true, nil
		}
		return lr.n, b, false, nil
	}
}

// head hashes the first headBytes of the input (or all of a shorter one)
// without consuming them.
func (lr *lineReader) head() (sum string, n int, err error) {
	b, err := lr.r.Peek(headBytes)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return "", 0, err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), len(b), nil
}

// InputInfo identifies an input: the report's header records it, and a
// rerun must read the same input.
type InputInfo struct {
	Name string `json:"name,omitempty"` // the path given, "-" for standard input
	// Size, SHA256 and Lines are known when the input is a regular file
	// (a first pass reads it whole).
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Lines  int    `json:"lines,omitempty"` // lines that are not blank
	// HeadSHA256 hashes the first HeadBytes bytes (all of a shorter
	// input): what can be checked of standard input before reading it.
	HeadSHA256 string `json:"head_sha256"`
	HeadBytes  int    `json:"head_bytes"`
}

// ScanFile reads the regular file at path once: its size, SHA-256, head
// hash and number of non-blank lines, in constant memory.
func ScanFile(path string) (InputInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return InputInfo{}, err
	}
	defer f.Close()
	info := InputInfo{Name: path}
	h := sha256.New()
	lr := newLineReader(io.TeeReader(f, h))
	if info.HeadSHA256, info.HeadBytes, err = lr.head(); err != nil {
		return info, err
	}
	for {
		_, _, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, err
		}
		info.Lines++
	}
	if info.Size, err = f.Seek(0, io.SeekCurrent); err != nil {
		return info, err
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

// sameInput says whether the input described by got is the one a report
// was written for (want); the error says how they differ.
func sameInput(want, got InputInfo) error {
	switch {
	case want.SHA256 != "" && got.SHA256 != "":
		if want.SHA256 != got.SHA256 || want.Size != got.Size {
			return fmt.Errorf("it was written for an input of %d bytes with SHA-256 %s, and this input has %d bytes with SHA-256 %s", want.Size, want.SHA256, got.Size, got.SHA256)
		}
	case want.HeadSHA256 != got.HeadSHA256 || want.HeadBytes != got.HeadBytes:
		return fmt.Errorf("it was written for an input whose first %d bytes have SHA-256 %s, and this input's first %d bytes have SHA-256 %s", want.HeadBytes, want.HeadSHA256, got.HeadBytes, got.HeadSHA256)
	}
	return nil
}

// lineSet maps keys (hashed to 64 bits) to the first line that had them,
// in 12 bytes a slot, 15 to 23 bytes a key: a million lines' keys cost
// some 18 MB, where a Go map takes 38. It is split into 256
// open-addressing tables (linear probing) by the hash's top byte, each
// growing by half when it is 80% full, so that no growth copies more than
// a 256th of it at once.
type lineSet struct {
	seed   maphash.Seed
	tables [256]lineTable
}

type lineTable struct {
	keys  []uint64 // 0: empty (a hash of 0 is stored as 1)
	lines []uint32
	n     int
}

func newLineSet() *lineSet { return &lineSet{seed: maphash.MakeSeed()} }

// add records key for line n, or returns the line that had it first.
func (s *lineSet) add(key string, n int) (first int, dup bool) {
	h := maphash.String(s.seed, key)
	if h == 0 {
		h = 1
	}
	t := &s.tables[h>>56]
	if 5*(t.n+1) > 4*len(t.keys) {
		t.grow()
	}
	for i := t.slot(h); ; i = t.next(i) {
		switch t.keys[i] {
		case h:
			return int(t.lines[i]), true
		case 0:
			t.keys[i], t.lines[i] = h, uint32(n)
			t.n++
			return 0, false
		}
	}
}

// slot is where h's probe starts: h scaled to the table's size (its top
// bits, which also pick the table, are spread over the table as well).
func (t *lineTable) slot(h uint64) int {
	hi, _ := bits.Mul64(h<<8|h>>56, uint64(len(t.keys)))
	return int(hi)
}

func (t *lineTable) next(i int) int {
	if i++; i == len(t.keys) {
		return 0
	}
	return i
}

func (t *lineTable) grow() {
	old, oldLines := t.keys, t.lines
	size := max(len(old)*3/2, 64)
	t.keys, t.lines = make([]uint64, size), make([]uint32, size)
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := t.slot(h)
		for t.keys[i] != 0 {
			i = t.next(i)
		}
		t.keys[i], t.lines[i] = h, oldLines[j]
	}
}

// bitset is a set of line numbers.
type bitset []uint64

func (b *bitset) set(n int) {
	for n/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[n/64] |= 1 << (n % 64)
}

func (b bitset) has(n int) bool { return n >= 0 && n/64 < len(b) && b[n/64]&(1<<(n%64)) != 0 }

func (b *bitset) clear(n int) {
	if n/64 < len(*b) {
		(*b)[n/64] &^= 1 << (n % 64)
	}
}

// Input is the file an import reads.
type Input struct {
	Info InputInfo
	r    *bufio.Reader
	f    *os.File
}

// OpenInput opens path for an import ("-": stdin). A regular file is read
// a first time for its size, hash and line count; any other input (a
// pipe) only has its first MiB hashed, without consuming it.
func OpenInput(path string, stdin io.Reader) (*Input, error) {
	in := &Input{}
	src := stdin
	if path != "-" {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%s is a directory", path)
		}
		if st.Mode().IsRegular() {
			if in.Info, err = ScanFile(path); err != nil {
				return nil, err
			}
		}
		if in.f, err = os.Open(path); err != nil {
			return nil, err
		}
		src = in.f
	}
	lr := newLineReader(src)
	in.r = lr.r
	in.Info.Name = path
	if in.Info.SHA256 == "" {
		var err error
		if in.Info.HeadSHA256, in.Info.HeadBytes, err = lr.head(); err != nil {
			in.Close()
			return nil, err
		}
	}
	return in, nil
}

// Reader is the input's buffered reader: Run reads through it without
// another buffer.
func (in *Input) Reader() io.Reader { return in.r }

// Close closes the file.
func (in *Input) Close() error {
	if in.f != nil {
		return in.f.Close()
	}
	return nil
}
