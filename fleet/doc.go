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
// Package fleettest runs a real JetStream cluster of embedded servers for
// tests.
package fleet
