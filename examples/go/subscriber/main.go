// Command subscriber is a minimal standalone parallax subscriber: it
// connects to NATS, subscribes to the depth maps and prints the size and the
// nearest, median and farthest depth of each. It uses only nats.go and the
// msgs packages, as a program outside this repository would.
//
//	go run ./examples/go/subscriber -url nats://127.0.0.1:4222 -subject parallax.left.depth
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "NATS server URL")
	subject := flag.String("subject", "parallax.left.depth", "depth subject (<ns>.<camera>.depth)")
	flag.Parse()

	nc, err := nats.Connect(*url)
	if err != nil {
		log.Fatalf("connect %s: %v", msgs.RedactURL(*url), err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe(*subject, func(m *nats.Msg) {
		var img foxglove.RawImage
		if err := proto.Unmarshal(m.Data, &img); err != nil {
			log.Printf("%s: %v", m.Subject, err)
			return
		}
		// DepthFromImage checks the encoding (32FC1) and the row stride and
		// returns the metres row by row.
		w, h, depth, err := msgs.DepthFromImage(&img)
		if err != nil {
			log.Printf("%s: %v", m.Subject, err)
			return
		}
		if len(depth) == 0 {
			return
		}
		sorted := slices.Clone(depth)
		slices.Sort(sorted)
		fmt.Printf("%s %dx%d min %.2f median %.2f max %.2f m\n", m.Subject, w, h,
			sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1])
	})
	if err != nil {
		log.Fatal(err)
	}
	// A 640x192 depth map is 491 KB: without this the client drops the
	// subscription as a slow consumer after a few hundred messages.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
}
