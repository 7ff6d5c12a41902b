package launch

import (
	"net/url"
	"strconv"
	"strings"
)

// redacted stands in for a secret.
const redacted = "xxxxx"

// RedactURL returns u with its password replaced by "xxxxx", fit for logs.
// A comma-separated list (a NATS cluster) is redacted element by element.
// Text that does not parse as a URL keeps only what follows the last '@',
// so nothing of the credentials can leak through it either.
func RedactURL(u string) string { return redactURL(u, false) }

// redactURL redacts the password and, when user is true, the user name as
// well: NATS reads nats://TOKEN@host as a token.
func redactURL(u string, user bool) string {
	if strings.Contains(u, ",") {
		parts := strings.Split(u, ",")
		for i, p := range parts {
			parts[i] = redactURL(p, user)
		}
		return strings.Join(parts, ",")
	}
	p, err := url.Parse(u)
	if err != nil {
		i := strings.LastIndex(u, "@")
		if i < 0 {
			return u
		}
		scheme := ""
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			scheme = u[:j+3]
		}
		return scheme + redacted + "@" + u[i+1:]
	}
	if p.User == nil {
		return u
	}
	if user {
		p.User = url.User(redacted)
		return p.String()
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), redacted)
	}
	return p.String()
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
		c.NATS.Token = redacted
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
	return c.Name + " (" + c.Role + ") " + RedactURL(c.URL)
}
