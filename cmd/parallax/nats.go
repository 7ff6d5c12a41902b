package main

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/parallax-robotics/parallax/actors"
)

// startEmbeddedNATS runs a NATS server inside the process on listen
// (host:port; port 0 picks a free one), so a command needs no broker and
// other processes on the robot can still subscribe to it. The node (run,
// demo) starts its own through actors; this is for the other commands.
func startEmbeddedNATS(listen string) (*server.Server, error) {
	e := &actors.EmbeddedNATS{Listen: listen}
	if err := e.Start(); err != nil {
		return nil, err
	}
	return e.Server(), nil
}
