package index

import "context"

// Abandon ends the lock's connection without unlocking, as a process that dies does.
func (l *SourceLock) Abandon() {
	_ = l.conn.Conn().Close(context.Background())
	l.conn.Release()
}

// TagLiteral exposes tagLiteral to the tests.
func TagLiteral(tag string) (string, error) { return tagLiteral(tag) }
