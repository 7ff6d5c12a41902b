package pytorch

import (
	"fmt"
	"os"
	"os/exec"
)

// Find returns a python3 that imports torch: $PARALLAX_PYTHON, then
// python3 on PATH, then Debian's /usr/bin/python3 (python3-torch, which
// make deps installs).
func Find() (string, error) {
	cands := []string{os.Getenv("PARALLAX_PYTHON"), "python3", "/usr/bin/python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import torch").Run(); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no python3 with torch (tried %q): install python3-torch (make deps) or set PARALLAX_PYTHON", cands)
}
