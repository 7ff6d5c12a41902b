package assets

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed demo.ckpt
var demoCheckpoint []byte

// DemoCheckpoint returns the bytes of demo.ckpt.
func DemoCheckpoint() []byte { return demoCheckpoint }

// DemoCheckpointFile writes demo.ckpt into dir (created if needed) and
// returns its path (CachedFile): launch files and the node load checkpoints
// from files.
func DemoCheckpointFile(dir string) (string, error) {
	return CachedFile(dir, "demo", ".ckpt", demoCheckpoint)
}

// CachedFile writes data into dir (created if needed) under a name that
// carries its content hash, prefix-HASH.ext, unless a file of that name is
// already there, and returns its path. The write is atomic (temp file +
// rename), so concurrent callers and a crash never leave a partial file
// under the final name.
func CachedFile(dir, prefix, ext string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, prefix+"-"+hex.EncodeToString(sum[:6])+ext)
	if st, err := os.Stat(path); err == nil && st.Size() == int64(len(data)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("assets: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+prefix+"-*"+ext+".tmp")
	if err != nil {
		return "", fmt.Errorf("assets: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("assets: writing %s: %w", path, err)
	}
	return path, nil
}
