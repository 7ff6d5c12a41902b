// Package fuzzseed writes and checks the seed corpora of the project's fuzz
// targets: the files in a package's testdata/fuzz/FuzzXxx, in the format
// `go test` reads ("go test fuzz v1", one Go literal per argument).
//
// Each package with fuzz targets has a TestFuzzSeeds that builds its seeds
// from real inputs (the launch examples, calibration files, MCAP written by
// the recorder, RTP packets from gortsplib's packetizers, a checkpoint of a
// tiny model) and hands them to a Corpus. Run normally, the test checks
// that the committed corpus holds those seeds, byte for byte, so a format
// change that leaves the corpus stale fails; run with
//
//	go test ./pkg -run TestFuzzSeeds -fuzzseed.write
//
// it writes them. Inputs the fuzzer found (crashers kept as regression
// seeds, named by go's hash) live beside them and are left alone.
// EveryTargetHasCorpus is the check that no fuzz target lacks a corpus.
package fuzzseed
