package bed

import (
	"fmt"
	"net"
	"sync"
)

// ClosedAddress is a loopback address nothing listens on: a registry that
// is down.
func ClosedAddress() (string, error) {
	p, err := FreePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

// Hanging is a listener that accepts connections and never answers: a
// registry that hangs.
type Hanging struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewHanging listens on a free loopback port.
func NewHanging() (*Hanging, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &Hanging{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

// Addr is host:port of the listener.
func (h *Hanging) Addr() string { return h.ln.Addr().String() }

// Close stops listening and drops the connections it holds; nil is fine.
func (h *Hanging) Close() {
	if h == nil {
		return
	}
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}
