package camera

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/parallax-robotics/parallax/msgs"
)

func init() {
	Register(Driver{
		Schemes: []string{"rtsp", "rtsps"},
		Network: true,
		Model:   ModelNeeded,
		Check:   checkRTSPURL,
		Open: func(spec Spec) (*Feed, error) {
			return &Feed{Open: func() (Source, error) {
				return &RTSP{URL: spec.URL, Camera: spec.Name, Transport: spec.Transport, Intrinsics: spec.Intrinsics}, nil
			}}, nil
		},
	})
}

// checkRTSPURL checks an RTSP URL has a host and a valid port.
func checkRTSPURL(u *url.URL) error {
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", msgs.RedactURL(u.String()))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not 1 to 65535", msgs.RedactURL(u.String()), port)
		}
	}
	return nil
}
