package launch

import (
	"strconv"

	"github.com/parallax-robotics/parallax/msgs"
)

// redactURL redacts the password and, when user is true, the whole user
// info: NATS reads nats://TOKEN@host as a token.
func redactURL(u string, user bool) string {
	if user {
		return msgs.RedactUserinfo(u)
	}
	return msgs.RedactURL(u)
}

func quoteURL(u string) string  { return strconv.Quote(redactURL(u, false)) }
func quoteNATS(u string) string { return strconv.Quote(redactURL(u, true)) }

// String returns the launch configuration as YAML with every secret
// replaced by "xxxxx": camera URL passwords, NATS URL user info and the
// NATS token. Use Marshal to write a file back.
func (l *Launch) String() string {
	c := *l
	c.Cameras = make([]Camera, len(l.Cameras))
	for i, cam := range l.Cameras {
		cam.URL = redactURL(cam.URL, false)
		c.Cameras[i] = cam
	}
	c.NATS.URL = redactURL(l.NATS.URL, true)
	if c.NATS.Token != "" {
		c.NATS.Token = msgs.Redacted
	}
	if l.Viewer != nil && l.Viewer.Token != "" {
		v := *l.Viewer
		v.Token = msgs.Redacted
		c.Viewer = &v
	}
	b, err := c.Marshal()
	if err != nil {
		return "launch: " + err.Error()
	}
	return string(b)
}

// String returns the camera as "name (role) url" with the URL's password
// redacted.
func (c Camera) String() string {
	return c.Name + " (" + c.Role + ") " + msgs.RedactURL(c.URL)
}
