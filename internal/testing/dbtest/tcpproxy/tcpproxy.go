// Package tcpproxy is a TCP proxy for tests that need a database to go away and come back:
// put it between a connection pool and PostgreSQL, Cut it (every open connection is reset
// and new ones are refused, as during a restart), then Restore it; or Hold it (bytes stop
// flowing, queries in flight wait for answers that do not come), then Release it. The
// shared test server itself is never touched.
package tcpproxy

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards connections from its address to a target address.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	held  chan struct{} // closed while bytes may flow; replaced by Hold
	wg    sync.WaitGroup
}

// Start listens on a free port of 127.0.0.1 and forwards to target (host:port) until t ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tcpproxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}, held: make(chan struct{})}
	close(p.held)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// For returns a proxy to the host and port of a PostgreSQL URL, and the URL rewritten to go
// through it.
func For(t testing.TB, databaseURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("tcpproxy: %v", err)
	}
	p := Start(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// Addr is the address to connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut resets every open connection and refuses new ones until Restore. Held bytes are
// dropped.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		reset(c)
	}
	p.mu.Unlock()
	p.Release()
}

// Hold stops forwarding: bytes read from either side wait until Release or Cut.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.held:
		p.held = make(chan struct{})
	default: // already held
	}
}

// Release lets held bytes through again.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.held:
	default:
		close(p.held)
	}
}

// Restore accepts and forwards connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// reset closes c with a TCP reset rather than an orderly close, as a crashed server does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.wg.Add(1)
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err == nil {
		p.mu.Lock()
		if p.cut { // cut while dialling
			reset(server)
			err = errors.New("cut")
		} else {
			p.conns[server] = struct{}{}
		}
		p.mu.Unlock()
	}
	if err != nil {
		p.drop(client)
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done // one side ended: end both
	p.drop(client)
	p.drop(server)
	<-done
}

// pipe copies from src to dst until either fails, waiting before each write while the proxy
// is held.
func (p *Proxy) pipe(dst, src net.Conn) {
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
			return // EOF, or the connection was reset by Cut
		}
	}
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	reset(c)
}
