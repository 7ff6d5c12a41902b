package msgs

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Redacted stands in for a secret in everything Parallax prints or publishes.
const Redacted = "xxxxx"

// Camera URLs carry credentials (rtsp://user:pass@host/path) and end up in
// logs, errors, diagnostics and launch-file dumps. These helpers are the one
// place that decides how a URL is made fit for those, so every part redacts
// the same way.

// RedactURL returns u with any password replaced by "xxxxx", fit for logs.
// A URL that does not parse, or parses without user info although it holds
// an '@' (as in "rtsp://?:pw@host"), has every string that could be its
// password replaced, so no credentials can leak through it either. A
// comma-separated list of URLs (a NATS cluster) is redacted URL by URL.
func RedactURL(u string) string {
	if parts := strings.Split(u, ","); len(parts) > 1 && allURLs(parts) {
		for i, p := range parts {
			parts[i] = redactOne(p)
		}
		// A comma inside a password would split it across two parts;
		// the candidates of the whole catch what the parts could not.
		return redactCandidates(strings.Join(parts, ","), u)
	}
	return redactOne(u)
}

// RedactUserinfo returns u with its whole user info replaced by "xxxxx":
// NATS reads nats://TOKEN@host as a token, so the user name is a secret too.
func RedactUserinfo(u string) string {
	if parts := strings.Split(u, ","); len(parts) > 1 && allURLs(parts) {
		for i, p := range parts {
			parts[i] = RedactUserinfo(p)
		}
		return redactCandidates(strings.Join(parts, ","), u)
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
		return scheme + Redacted + "@" + u[i+1:]
	}
	if p.User == nil {
		return redactCandidates(u, u)
	}
	p.User = url.User(Redacted)
	// A '#' or '?' may have hidden part of the credentials from the parser.
	return redactCandidates(p.String(), u)
}

func redactOne(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		// Without user info, keep the URL as written: String would
		// rewrite it (synth://?seed=7 becomes synth:?seed=7).
		return redactCandidates(u, u)
	}
	out := p.Redacted()
	if !hasPassword(p) || atAfterAuthority(u) {
		out = redactCandidates(out, u)
	}
	return out
}

// atAfterAuthority reports whether an '@' follows the end of the
// authority (the first '/', '?' or '#' after the scheme): the parser ends
// the user info before it, so a password holding one of those characters is
// split, and what follows could still be part of it.
func atAfterAuthority(u string) bool {
	rest := u
	if j := strings.Index(u, "://"); j >= 0 {
		rest = u[j+3:]
	}
	k := strings.IndexAny(rest, "/?#")
	return k >= 0 && strings.Contains(rest[k:], "@")
}

// allURLs reports whether every part looks like a URL of its own.
func allURLs(parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(p, "://") {
			return false
		}
	}
	return true
}

// hasPassword reports whether url.Parse found a password. When it did, it
// took everything up to the last '@' of the authority, so Redacted hides
// every part of it; when it did not, a '?' or '#' may have hidden one.
func hasPassword(p *url.URL) bool {
	if p.User == nil {
		return false
	}
	_, ok := p.User.Password()
	return ok
}

// RedactText removes the credentials of rawURL from text, also when rawURL
// does not parse (url.Parse errors quote the whole URL).
func RedactText(text, rawURL string) string {
	if rawURL == "" {
		return text
	}
	red := RedactURL(rawURL)
	text = strings.ReplaceAll(text, strconv.Quote(rawURL), strconv.Quote(red))
	text = strings.ReplaceAll(text, rawURL, red)
	p, err := url.Parse(rawURL)
	if err == nil && p.User != nil {
		if pass, ok := p.User.Password(); ok && pass != "" {
			text = strings.ReplaceAll(text, p.User.String(), p.User.Username()+":xxxxx")
			text = strings.ReplaceAll(text, url.PathEscape(pass), Redacted)
			text = strings.ReplaceAll(text, pass, Redacted)
		}
	}
	if err != nil || !hasPassword(p) {
		text = redactCandidates(text, rawURL)
	}
	return text
}

// redactCandidates replaces in text every string of rawURL that could be a
// password: for each '@' after the scheme, whatever follows a ':' before it.
// Where the URL does not parse, which '@' ends the credentials and which ':'
// starts the password is unclear (either may be part of one), so all count,
// longest first so that a short one does not hide a longer one.
func redactCandidates(text, rawURL string) string {
	j := strings.Index(rawURL, "://")
	if j < 0 {
		return text
	}
	var cands []string
	for i := j + 3; i < len(rawURL); i++ {
		if rawURL[i] != '@' {
			continue
		}
		for k := j + 3; k < i-1; k++ {
			if rawURL[k] == ':' {
				cands = append(cands, rawURL[k+1:i])
			}
		}
	}
	sort.Slice(cands, func(a, b int) bool { return len(cands[a]) > len(cands[b]) })
	for _, c := range cands {
		text = strings.ReplaceAll(text, c, Redacted)
	}
	return text
}
