package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbeddedNATS runs a NATS server inside the process on listen
// (host:port; port 0 picks a free one), so the node needs no broker and other
// processes on the robot can still subscribe to it.
func startEmbeddedNATS(listen string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: bad listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded NATS: bad port in listen address %q", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// The server reports a busy port only through its logger; check
		// first so the user gets a plain answer.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS cannot listen on %s (%w); is another NATS server running? choose another address", listen, err)
		}
		l.Close()
	}
	s, err := server.NewServer(&server.Options{Host: host, Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not become ready within 10s", listen)
	}
	return s, nil
}
