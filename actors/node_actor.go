package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// nodeActor is the root of the tree: it spawns the diagnostics actor, one
// actor per sink, one perception actor per stream group (with the learner
// and its tee for the first), the stereo sync actor and the camera actors
// (downstream first, so every actor knows where to send), and supervises
// them with decide.
type nodeActor struct {
	n *Node
	l *launch.Launch
}

func (a *nodeActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.spawn(ctx)
	case *actor.Stopping:
	case *actor.Stopped:
	case *actor.Restarting:
	}
}

func (a *nodeActor) spawn(ctx actor.Context) {
	l, n := a.l, a.n
	out := &fanout{sinks: n.sinks}
	diag := spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
		return &diagnosticsActor{out: out}
	}), "diagnostics")
	for _, link := range n.sinks {
		spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
			return &sinkActor{link: link, diag: diag}
		}), "sink/"+link.sink.Name())
	}
	next := map[string]*actor.PID{} // camera -> where its frames go
	paired := map[string]bool{}     // cameras whose frames go to sync
	for i, g := range groups(l) {
		odom, depth := i == 0, n.depths[i]
		perc := spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
			return &perceptionActor{name: g[0], height: cameraHeight(l, g), est: n.est, depth: depth, odom: odom, out: out, diag: diag, result: n.onResult, c: &n.c,
				flow: l.Topics.OpticalFlow, sceneFlow: l.Topics.SceneFlow}
		}), "perception/"+g[0])
		if i == 0 && n.learn != nil {
			// The first group also feeds the online learner.
			learn := spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
				return &learnerActor{s: n.learn, name: g[0], out: out, diag: diag}
			}), "learner/"+g[0])
			perc = spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
				return &teeActor{to: []*actor.PID{perc, learn}}
			}), "tee/"+g[0])
		}
		if len(g) == 1 {
			next[g[0]] = perc
			continue
		}
		tol, monoAfter := l.Stereo.SyncTolerance, l.Stereo.MonoAfter
		sync := spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
			return &syncActor{left: g[0], right: g[1], tolerance: tol, monoAfter: monoAfter, next: perc, diag: diag, c: &n.c}
		}), "sync")
		next[g[0]], next[g[1]] = sync, sync
		paired[g[0]], paired[g[1]] = true, true
	}
	for i, c := range l.Cameras {
		link, feed, gate, to, alone := n.links[i], n.feeds[c.Name], n.gates[c.Name], next[c.Name], !paired[c.Name]
		hw := msgs.RedactURL(c.URL)
		spawnNamed(ctx, actor.PropsFromProducer(func() actor.Actor {
			return &cameraActor{link: link, hardwareID: hw, open: feed.Open, gate: gate, next: to, alone: alone,
				out: out, diag: diag, backoff: n.Backoff, c: &n.c}
		}), "camera/"+c.Name)
	}
}

// spawnNamed spawns a child with a fixed name; names are unique by
// construction (launch validates camera names), so an error is a bug.
func spawnNamed(ctx actor.Context, p *actor.Props, name string) *actor.PID {
	pid, err := ctx.SpawnNamed(p, name)
	if err != nil {
		panic(err)
	}
	return pid
}

// groups returns the stream groups: the stereo pair first (when there is
// one), then each other camera alone. The first group's reference camera
// carries the odometry.
func groups(l *launch.Launch) [][]string {
	var out [][]string
	paired := map[string]bool{}
	if st := l.Stereo; st != nil {
		out = append(out, []string{st.Left, st.Right})
		paired[st.Left], paired[st.Right] = true, true
	}
	for _, c := range l.Cameras {
		if !paired[c.Name] {
			out = append(out, []string{c.Name})
		}
	}
	return out
}

// cameraHeight is a mono group's camera_height (0 for a pair: its depth is
// metric by the baseline).
func cameraHeight(l *launch.Launch, g []string) float64 {
	if len(g) != 1 {
		return 0
	}
	if c := l.Camera(g[0]); c != nil {
		return c.CameraHeight
	}
	return 0
}
