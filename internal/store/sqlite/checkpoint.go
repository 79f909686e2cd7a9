package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the
// threshold (1000 WAL pages), on the writer's connection: it copies the WAL
// into the database file and fsyncs both, and every write queued behind
// that commit waits for the disk. grantd's writer connection turns the
// automatic checkpoint off (wal_autocheckpoint(0)) and a checkpointer
// goroutine runs PASSIVE checkpoints on a connection of its own instead:
// after every checkpointEvery committed transactions and at least every
// checkpointInterval. A passive checkpoint never blocks the writer or the
// readers (it copies what no reader still needs, and the next write
// transaction restarts the WAL once everything is copied). Durability does
// not depend on where checkpoints run: the writer syncs the WAL when it
// commits (synchronous=FULL, see groupcommit.go), and a checkpoint syncs
// the WAL before copying it and the database file after.

const (
	checkpointEvery    = 100 // committed write transactions
	checkpointInterval = time.Second
)

type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	quit chan struct{}
	exit chan struct{}
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), exit: make(chan struct{})}
	go c.loop()
	return c
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
	for {
		select {
		case <-c.kick:
		case <-t.C:
		case <-c.quit:
			return
		}
		// An error (SQLITE_BUSY while another process checkpoints, say)
		// only delays the checkpoint to the next round.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

func (c *checkpointer) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.exit
}
