// Package fleet shares models across a fleet of robots through a NATS
// JetStream cluster: the robot's own bus, so no home-made coordination.
//
// The model registry (Registry) keeps every version of a model family's
// weights as one object of a JetStream Object Store bucket, named by the
// SHA-256 digest of the checkpoint file (so a version is immutable and a
// pull is checked byte for byte), and one key of a JetStream KeyValue
// bucket per family pointing at the version the fleet should serve. The
// key's history (up to 64 revisions, kept by JetStream) is the audit trail:
// every promotion and rollback with who, when and why, and what Rollback
// walks back through. Each version carries its metadata (where it was
// trained, on how many samples, its validation score) in the object's
// metadata, so a listing needs no download.
//
// Nodes follow their family with a Follower: it watches the key (a
// JetStream ordered consumer, which survives reconnects), re-reads it
// periodically as a safety net, pulls a new version and hands it to the
// node, which validates it on its own recent frames before serving it (see
// actors). A node offline for a while reads the current pointer when it
// returns.
//
// The buckets are replicated (Replicas, 3 on a 3-server cluster): a server
// of the cluster lost loses no acknowledged version or promotion.
//
// Samples up: a node's Uploader publishes the learner's replay-buffer picks
// (EncodeSample: the frames as PNG or JPEG, intrinsics, stereo baseline,
// pose when known, behind a checked header) to the JetStream stream
// FLEET_SAMPLES on fleet.samples.<robot>, within a bandwidth budget (a
// token bucket; picks over it are dropped so the learner never waits),
// retrying each publish with the same message ID until it is acknowledged,
// so a lost server loses no acknowledged sample and stores none twice.
//
// Models down: a Trainer (parallax fleet-train) takes the samples through
// one durable pull consumer shared by every trainer (explicit acks; a
// malformed sample is terminated with the reason), trains the family's
// current version with learner's objectives and Trainer, and pushes and
// promotes a version only when it beats the current one on held-out
// samples (those whose stream sequence is a multiple of HoldOutEvery, so
// every trainer agrees).
//
// Federated option: nodes publish weight deltas from the version they
// adopted (EncodeDelta, on fleet.deltas.<robot>) instead of frames; the
// Trainer's FedRound averages those made on the current version, weighted
// by their samples (FedAvg, WeightedSum), into the next version.
//
// Package fleettest runs a real JetStream cluster of embedded servers for
// tests.
package fleet
