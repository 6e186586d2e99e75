// Command lagproxy is the lab's latency fault (lab/lab fault HOST latency-add MS).
// This machine's kernel has no sch_netem, so instead of `tc netem` the lab
// redirects a host's port 22 (iptables REDIRECT in the host's namespace) to
// this relay, which forwards to the real sshd and delays every chunk of the
// server's replies by -delay, preserving order and throughput. New connections
// see the added round-trip time; established ones are not affected.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", ":2222", "address to listen on")
	target := flag.String("target", "", "address to forward to (host:22)")
	delay := flag.Duration("delay", 100*time.Millisecond, "delay added to the target's replies")
	pidfile := flag.String("pidfile", "", "write the pid here once listening")
	flag.Parse()
	if *target == "" {
		log.Fatal("lagproxy: -target is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("lagproxy: %v", err)
	}
	if *pidfile != "" {
		if err := os.WriteFile(*pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Fatalf("lagproxy: %v", err)
		}
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("lagproxy: accept: %v", err)
		}
		go relay(c, *target, *delay)
	}
}

func relay(client net.Conn, target string, delay time.Duration) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		log.Printf("lagproxy: dial %s: %v", target, err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); closeWrite(server); done <- struct{}{} }()
	go func() { delayed(client, server, delay); closeWrite(client); done <- struct{}{} }()
	<-done
	<-done
}

type chunk struct {
	due  time.Time
	data []byte
}

// delayed copies src to dst, writing each chunk read from src d after it arrived.
func delayed(dst io.Writer, src io.Reader, d time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(d), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			for range q {
			}
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
