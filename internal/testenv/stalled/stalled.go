// Package stalled starts servers that hang: they accept connections on
// 127.0.0.1 and never finish an answer, so only a client's own timeout
// ends a call. Tests of every backend client use it to show that a
// stalled backend cannot hang a reconcile.
package stalled

import (
	"net"
	"sync"
	"testing"
)

// Listen accepts connections until the test ends and hands each to answer
// (in its own goroutine), which may read the request and write part of a
// reply; a nil answer holds the connection silent. Connections stay open
// until the test's cleanup closes them. It returns the listener's
// host:port.
func Listen(t testing.TB, answer func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if answer != nil {
				go answer(c)
			}
		}
	}()
	return ln.Addr().String()
}

// HTTPHeadersThenNothing reads a request and answers with a status line
// and headers promising a body of 4096 bytes, of which it sends only
// start: a server that stalls mid-body.
func HTTPHeadersThenNothing(contentType, start string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = c.Read(make([]byte, 64<<10))
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\nContent-Length: 4096\r\n\r\n" + start))
	}
}

// ReadOnly reads a request and sends nothing back.
func ReadOnly(c net.Conn) { _, _ = c.Read(make([]byte, 64<<10)) }
