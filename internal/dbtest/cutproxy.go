package dbtest

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// CutProxy is a TCP proxy between a test's clients and its database server, which the test
// can hold, cut and restore: what a database restart or a network failure looks like to the
// clients, without touching the server that other tests share.
//
// Hold stops forwarding bytes (queries in flight wait for an answer that does not come); Cut
// closes every connection and stops accepting new ones (connect attempts are refused); Restore
// accepts connections again on the same address.
type CutProxy struct {
	t      testing.TB
	target string // host:port of the database server
	addr   string // host:port the proxy listens on

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
	held  chan struct{} // closed when forwarding may go on; replaced by Hold
}

// NewCutProxy starts a proxy to db's server and returns it with the URL of db through it.
// It stops when the test ends.
func NewCutProxy(t testing.TB, db *DB) (*CutProxy, string) {
	t.Helper()
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatalf("dbtest: parse %s: %v", db.Name, err)
	}
	p := &CutProxy{t: t, target: u.Host, conns: map[net.Conn]struct{}{}, held: make(chan struct{})}
	close(p.held)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dbtest: proxy: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Cut)
	via := *u
	via.Host = p.addr
	return p, via.String()
}

func (p *CutProxy) serve(ln net.Listener) {
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener was closed by Cut
			}
			go p.forward(c)
		}
	}()
}

func (p *CutProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// pipe copies from src to dst, waiting before each write while the proxy is held; it closes
// both when either side fails.
func (p *CutProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			held := p.held
			p.mu.Unlock()
			<-held
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or the connection was closed by Cut
		}
	}
}

// Hold stops forwarding: bytes already read wait until Cut or Release.
func (p *CutProxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.held:
		p.held = make(chan struct{})
	default: // already held
	}
}

// Release lets held bytes through again.
func (p *CutProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.held:
	default:
		close(p.held)
	}
}

// Cut closes every connection and stops accepting: clients see their connections drop and
// new connections refused, as during a database restart. Held bytes are dropped.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.Release()
}

// Restore accepts connections again, on the same address.
func (p *CutProxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; listening again can fail briefly on a busy machine.
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("dbtest: proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
