package msgs

// The Go code under msgs/foxglove and msgs/parallaxv1 is generated from the
// .proto files under msgs/proto and committed; TestGeneratedUpToDate fails
// when it is stale.
//go:generate sh ../scripts/genproto.sh
