// Package certtest issues throw-away X.509 certificates for tests that run
// real TLS peers (a NATS server requiring client certificates, the viewer's
// HTTPS): a P-256 CA, server and client certificates for 127.0.0.1 and
// localhost, written as PEM files beside their parsed forms.
package certtest
