package python

import (
	"fmt"
	"os"
	"os/exec"
)

// Find returns a python3 that imports module: $PARALLAX_PYTHON, then
// python3 on PATH, then Debian's /usr/bin/python3 (where make deps installs
// python3-torch and python3-opencv). The error names what was tried and the
// Debian package that provides the module.
func Find(module, debianPackage string) (string, error) {
	cands := []string{os.Getenv("PARALLAX_PYTHON"), "python3", "/usr/bin/python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import "+module).Run(); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no python3 that imports %s (tried %q): install %s (make deps) or set PARALLAX_PYTHON", module, cands, debianPackage)
}

// Torch is Find for PyTorch.
func Torch() (string, error) { return Find("torch", "python3-torch") }
