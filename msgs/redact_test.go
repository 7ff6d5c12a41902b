package msgs

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtsp://user:pass@10.0.0.2:554/stream", "rtsp://user:xxxxx@10.0.0.2:554/stream"},
		{"rtsp://10.0.0.2/stream", "rtsp://10.0.0.2/stream"},
		{"rtsp://user@host/x", "rtsp://user@host/x"},
		{"rtsp://u:pw%zz@host/x", "rtsp://u:xxxxx@host/x"},
		{"rtsp://?:pw@host/x", "rtsp://?:xxxxx@host/x"},
		{"rtsp://u:p@ss@host/x", "rtsp://u:xxxxx@host/x"},
		{"nats://a:b@h:1,nats://c:d@h:2", "nats://a:xxxxx@h:1,nats://c:xxxxx@h:2"},
		// A comma in the password does not make a list that leaks half of it.
		{"rtsp://u:p1,x://p2@h/x", "rtsp://u:xxxxx@h/x"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactUserinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://s3cr3tt0ken@h:4222", "nats://xxxxx@h:4222"},
		{"nats://u:p@h:4222", "nats://xxxxx@h:4222"},
		{"nats://h:4222", "nats://h:4222"},
		{"nats://a:b@h:1,nats://tok@h:2", "nats://xxxxx@h:1,nats://xxxxx@h:2"},
		{"nats://u:p%zz@h/x", "nats://xxxxx@h/x"},
	} {
		if got := RedactUserinfo(tc.in); got != tc.want {
			t.Errorf("RedactUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactText(t *testing.T) {
	raw := "rtsp://admin:hunter22@10.0.0.2/cam"
	text := `dial "` + raw + `": refused; user info admin:hunter22`
	got := RedactText(text, raw)
	if strings.Contains(got, "hunter22") || !strings.Contains(got, "admin:xxxxx@10.0.0.2") {
		t.Errorf("RedactText = %q", got)
	}
}

// FuzzRedactURL: whatever the password, neither redactor shows it.
func FuzzRedactURL(f *testing.F) {
	f.Add("robot", "s3cret", "10.0.0.2:554", "/cam")
	f.Add("u", "p@ss:w/rd", "[::1", "/x")
	f.Add("", "pa%zzword", "host", "")
	f.Add("a", "pw,nats://x", "h:1", "")
	f.Fuzz(func(t *testing.T, user, pass, host, path string) {
		raw := "nats://" + user + ":" + pass + "@" + host + path
		// A password that also stands elsewhere in the URL, as written or
		// as the URL's String escapes it, cannot be told apart.
		rest := "nats://" + user + ":xxxxx@" + host + path + " nats://xxxxx@" + host + path + url.User(user).String() + url.PathEscape(host+path) +
			url.QueryEscape(host+path) + strings.ToUpper(url.PathEscape(host+path))
		if len(pass) < 4 || strings.Contains(rest, pass) {
			return
		}
		if got := RedactURL(raw); strings.Contains(got, pass) {
			t.Fatalf("RedactURL(%q) = %q", raw, got)
		}
		if got := RedactUserinfo(raw); strings.Contains(got, pass) {
			t.Fatalf("RedactUserinfo(%q) = %q", raw, got)
		}
	})
}
