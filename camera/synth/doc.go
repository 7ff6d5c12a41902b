// Package synth renders a procedural, closed 3D street world on the CPU: the
// test world of Parallax, the camera of its demo, and training data with
// exact ground truth for self-supervised depth and ego-motion learning.
//
// The world is a ring road around a central tower: an asphalt carriageway
// with lane markings, tiled sidewalks with posts, bollards and crates,
// building facades with windows on both sides, a painted far ring wall and a
// clouded lid. It is closed, so every pixel hits textured geometry within
// MaxDepth and the ground-truth depth is defined everywhere. Every surface
// carries multi-scale (1/f) value noise plus shapes (bricks, slabs, windows,
// markings), in world units and mip-mapped, because a photometric loss needs
// texture at every scale to have a smooth basin; pixel-scale white noise
// gives none.
//
// A camera rig (mono or rectified stereo, pinhole intrinsics) drives round
// the road like a car (PathCar) or a robot (PathRobot) with gentle lane
// changes, bobbing, pitch and roll, under a sun with Lambertian shading plus
// ambient light and a slowly drifting exposure. Everything is a pure
// function of Config and the frame index: frames are deterministic and
// random access, whatever GOMAXPROCS is.
//
// A rig can also be a real camera's imperfect one: Config.K1..K3 and P1,
// P2 render both views through a plumb_bob lens, and RightYaw, RightPitch
// and RightRoll rotate the right camera, so the frames are raw and
// unrectified (synth://?stereo=1&k1=-0.18&right_yaw=0.8). The ground truth
// stays exact (each raw pixel's depth along its camera's axis, the right
// camera's rotated pose), and World.Calibration returns the calibration
// that rectifies the frames back into the ideal rig's (camera/rectify;
// write it with calibration.WriteFile for a launch file).
//
// NewWorld builds a World from a Config (ParseURL reads one from a
// synth://?seed=7&stereo=1 URL); World.Render(i) returns frame i of both
// views with msgs.GroundTruth (z-depth in metres, the camera-to-world pose;
// world frame z up, camera x right, y down, z forward); World.Camera gives a
// camera.Source of one view, optionally paced in real time.
//
// Rendering casts one ray per pixel against analytic primitives (the ground
// and lid planes, the ring walls, boxes and cylinders), culls objects per
// 16x16 tile with the tile's frustum, and spreads tiles over GOMAXPROCS
// goroutines. Objects are static today (GroundTruth.Motion is nil); each hit
// records the index of its object, so moving objects would fill Motion from
// their velocity.
package synth
