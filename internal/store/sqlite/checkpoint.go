package sqlite

import (
	"context"
	"database/sql"
	"os"
	"time"
)

// Checkpoints.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the
// threshold (1000 WAL pages), on the writer's connection: it copies the WAL
// into the database file and fsyncs both, and every write queued behind
// that commit waits for the disk. grantd's writer connection turns the
// automatic checkpoint off (wal_autocheckpoint(0)) and a checkpointer
// goroutine runs checkpoints on a connection of its own instead:
//
//   - PASSIVE after every checkpointEvery committed transactions and at
//     least every checkpointInterval. A passive checkpoint never blocks
//     the writer or the readers: it copies what no reader still needs, and
//     the next write transaction restarts the WAL from its beginning once
//     everything is copied, cutting the file to walLimit
//     (journal_size_limit) as it does.
//   - TRUNCATE when the WAL file is larger than walLimit after a passive
//     checkpoint: readers that kept the WAL from restarting (under
//     sustained reads and writes a passive checkpoint may never find a
//     moment when no reader uses it) are waited for, at most
//     checkpointBusyTimeout, and the file is cut to zero. It runs on the
//     writer's connection between two batches (groupWriter.truncateWAL),
//     so it never competes with the writer for the write lock; writes
//     wait for it. The WAL so stays
//     under walLimit plus what is written between two checks (100
//     transactions or 1 s).
//   - TRUNCATE once writes stop (a round with no commit since the last):
//     an idle database leaves no WAL behind.
//
// Durability does not depend on where checkpoints run: the writer syncs the
// WAL when it commits (synchronous=FULL, see groupcommit.go), and a
// checkpoint syncs the WAL before copying it and the database file after.

const (
	checkpointEvery    = 100 // committed write transactions
	checkpointInterval = time.Second
	// checkpointBusyTimeout bounds how long a checkpoint waits for the
	// write lock or for readers (and so how long writes wait behind it).
	checkpointBusyTimeout = 100 * time.Millisecond
)

// walLimit is the WAL size past which a checkpoint truncates it, and the
// size a restarted WAL is cut to (journal_size_limit). A variable for the
// tests.
var walLimit int64 = 64 << 20

type checkpointer struct {
	db      *sql.DB
	walPath string
	commits func() int64 // transactions committed so far
	// truncate runs a truncating checkpoint on the writer's connection.
	truncate func() bool
	kick     chan struct{}
	quit     chan struct{}
	exit     chan struct{}
}

func newCheckpointer(db *sql.DB, walPath string) *checkpointer {
	c := &checkpointer{db: db, walPath: walPath, kick: make(chan struct{}, 1), quit: make(chan struct{}), exit: make(chan struct{})}
	return c
}

// start runs the checkpointer; commits reports the writer's count, and
// truncate has the writer run a truncating checkpoint.
func (c *checkpointer) start(commits func() int64, truncate func() bool) {
	c.commits, c.truncate = commits, truncate
	go c.loop()
}

// committed is called by the writer after each commit; n counts them.
func (c *checkpointer) committed(n int64) {
	if n%checkpointEvery != 0 {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default: // a checkpoint is already due
	}
}

func (c *checkpointer) loop() {
	defer close(c.exit)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	last := int64(-1) // commits at the last round
	for {
		kicked := false
		select {
		case <-c.kick:
			kicked = true
		case <-t.C:
		case <-c.quit:
			return
		}
		n := c.commits()
		idle := !kicked && n == last
		last = n
		// An error (SQLITE_BUSY while another process checkpoints, or
		// readers that outlast busy_timeout) only delays the checkpoint
		// to the next round.
		switch {
		case idle:
			// No transaction since the last round (the refresh leases,
			// written outside the group writer, may have been).
			if c.walSize() > 0 {
				c.truncate()
			}
		default:
			c.checkpoint("PASSIVE")
			if c.walSize() > walLimit {
				c.truncate()
			}
		}
	}
}

// checkpoint runs one checkpoint.
func (c *checkpointer) checkpoint(mode string) {
	_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`)
}

// walSize is the WAL file's size (0 when it cannot be read).
func (c *checkpointer) walSize() int64 {
	fi, err := os.Stat(c.walPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (c *checkpointer) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	if c.commits != nil {
		<-c.exit
	}
}
