package launch

// Camera URLs are checked by their scheme's driver in the camera package's
// registry (camera.Check, camera.Driver: which schemes are network streams,
// which know their own camera model, which name files); linking the
// built-in drivers here means every program that reads a launch file
// knows every built-in scheme.
import _ "github.com/parallax-robotics/parallax/camera/drivers"
