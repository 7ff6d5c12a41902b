package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// natsAuth are the authentication flags of the commands that connect to a
// NATS server themselves (sub, record --nats): the same ways a launch
// file's nats section has (actors.NATSOptions). User and password, or a
// token, may also go in the URL.
type natsAuth struct {
	creds, nkey, token, cert, key, ca *string
}

func addNATSAuth(fs *cmdFlags) *natsAuth {
	return &natsAuth{
		creds: fs.String("creds", "", "NATS .creds file (JWT and nkey seed)"),
		nkey:  fs.String("nkey", "", "file holding an nkey seed"),
		token: fs.String("token", "", "authentication token (a secret: never printed)"),
		cert:  fs.String("tls-cert", "", "client certificate (PEM), with --tls-key"),
		key:   fs.String("tls-key", "", "the client certificate's key (PEM)"),
		ca:    fs.String("tls-ca", "", "CA bundle that signs the server's certificate (PEM; default: the system roots)"),
	}
}

// connect connects to url with the flags' authentication and a name; a
// refusal names the server without its credentials.
func (a *natsAuth) connect(url, name string) (*nats.Conn, error) {
	if (*a.cert == "") != (*a.key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cfg := launch.NATS{URL: url, Credentials: *a.creds, NkeyFile: *a.nkey, Token: *a.token}
	if *a.cert != "" || *a.ca != "" {
		cfg.TLS = &launch.TLS{Cert: *a.cert, Key: *a.key, CA: *a.ca}
	}
	opts := append(actors.NATSOptions(cfg, func(p string) string { return p }, name), nats.Timeout(3*time.Second))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", msgs.RedactURL(url), msgs.RedactText(err.Error(), url))
	}
	return nc, nil
}
