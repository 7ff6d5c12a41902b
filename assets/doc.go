// Package assets holds files built into the parallax binary.
//
// demo.ckpt is the starting checkpoint of `parallax demo`: the small
// depth/pose model (320x96) trained from scratch, stereo self-supervision
// only, on one synthetic world (synth://?stereo=1&width=320&height=96&fps=15&seed=3&style=urban),
// while the demo's camera drives through another (launch/demo.yaml's
// serve.world), so that the online learner has a domain shift to adapt to
// and the demo's status line shows the depth error falling. It holds the
// weights only (no optimiser state), about 4.6 MB. It is committed rather
// than trained on first start because training it takes about half an hour
// on 2 CPU cores; `make demo-checkpoint` regenerates it with exactly the
// command recorded in its metadata:
//
//	go run ./cmd/parallax demo --pretrain assets/demo.ckpt --pretrain-steps 1500
package assets
