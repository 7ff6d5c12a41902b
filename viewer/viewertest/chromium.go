package viewertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Shot is what Screenshot saw: the page as a PNG and the rectangles (CSS
// pixels, which are the screenshot's at scale 1) of the elements asked for.
type Shot struct {
	PNG   []byte
	Image image.Image
	Rects map[string]image.Rectangle
	// Ready is whether the page's ready expression became true in time.
	Ready bool
}

// Chromium finds Debian's chromium (make deps installs it), or $CHROMIUM.
func Chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: chromium not found (Debian package chromium)", ErrMissingTool)
}

// Screenshot loads url in headless Chromium (its own temporary profile,
// DevTools on a loopback port), waits up to wait for the JavaScript
// expression ready to be true, and takes a screenshot of a width x height
// viewport, with the bounding boxes of the elements matching selectors.
func Screenshot(ctx context.Context, url string, width, height int, ready string, wait time.Duration, selectors ...string) (*Shot, error) {
	bin, err := Chromium()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "viewertest-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-sync", "--mute-audio",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+profile,
		fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs limitedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		// Chromium's own children are in its process group: end them all.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	port, err := devToolsPort(ctx, profile)
	if err != nil {
		return nil, fmt.Errorf("%w (chromium says %q)", err, tail(logs.String(), 400))
	}
	page, err := pageTarget(ctx, port)
	if err != nil {
		return nil, err
	}
	cdp, err := dialCDP(ctx, page)
	if err != nil {
		return nil, err
	}
	defer cdp.conn.CloseNow()
	if _, err := cdp.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		return nil, err
	}
	if _, err := cdp.call(ctx, "Page.navigate", map[string]any{"url": url}); err != nil {
		return nil, err
	}
	shot := &Shot{Rects: map[string]image.Rectangle{}}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var ok bool
		if err := cdp.eval(ctx, ready, &ok); err == nil && ok {
			shot.Ready = true
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// One more frame of drawing after ready.
	time.Sleep(400 * time.Millisecond)
	for _, sel := range selectors {
		var r struct{ X, Y, W, H float64 }
		expr := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return null; const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, sel)
		if err := cdp.eval(ctx, expr, &r); err != nil || r.W == 0 {
			continue
		}
		shot.Rects[sel] = image.Rect(int(r.X+0.5), int(r.Y+0.5), int(r.X+r.W), int(r.Y+r.H))
	}
	res, err := cdp.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var data struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &data); err != nil {
		return nil, err
	}
	if shot.PNG, err = base64.StdEncoding.DecodeString(data.Data); err != nil {
		return nil, err
	}
	if shot.Image, err = png.Decode(bytes.NewReader(shot.PNG)); err != nil {
		return nil, err
	}
	return shot, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// devToolsPort reads the port Chromium wrote to DevToolsActivePort.
func devToolsPort(ctx context.Context, profile string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f, err := os.Open(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			s := bufio.NewScanner(f)
			port := ""
			if s.Scan() {
				port = strings.TrimSpace(s.Text())
			}
			f.Close()
			if port != "" {
				return port, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("viewertest: chromium wrote no DevToolsActivePort within 30 s")
}

// pageTarget returns the WebSocket URL of Chromium's page.
func pageTarget(ctx context.Context, port string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/json/list", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", err
	}
	for _, t := range targets {
		if t.Type == "page" {
			return t.URL, nil
		}
	}
	return "", fmt.Errorf("viewertest: chromium has no page target")
}

// cdp is a minimal client of the Chrome DevTools Protocol: calls, in
// order, events ignored.
type cdp struct {
	conn *websocket.Conn
	id   atomic.Int64
}

func dialCDP(ctx context.Context, url string) (*cdp, error) {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(256 << 20)
	return &cdp{conn: conn}, nil
}

func (c *cdp) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := c.id.Add(1)
	b, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("viewertest: %s: %w", method, err)
		}
		var resp struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &resp); err != nil || resp.ID != id {
			continue // an event, or another call's late answer
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("viewertest: %s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

// eval evaluates a JavaScript expression in the page into v (JSON).
func (c *cdp) eval(ctx context.Context, expr string, v any) error {
	res, err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("viewertest: %s: %s", expr, r.Exception.Text)
	}
	if len(r.Result.Value) == 0 || string(r.Result.Value) == "null" {
		return fmt.Errorf("viewertest: %s: no value", expr)
	}
	return json.Unmarshal(r.Result.Value, v)
}

// Colourful counts the pixels of r in img that are saturated (channels
// apart by at least 60 of 255) and the distinct hue sixths among them: a
// colour-mapped image has many of both, a grey one none.
func Colourful(img image.Image, r image.Rectangle) (saturated, total int, hues int) {
	r = r.Intersect(img.Bounds())
	var seen [6]bool
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			R, G, B, _ := img.At(x, y).RGBA()
			c := [3]int{int(R >> 8), int(G >> 8), int(B >> 8)}
			total++
			hi, lo := max(c[0], c[1], c[2]), min(c[0], c[1], c[2])
			if hi-lo < 60 {
				continue
			}
			saturated++
			seen[hueSixth(c, hi, lo)] = true
		}
	}
	for _, s := range seen {
		if s {
			hues++
		}
	}
	return saturated, total, hues
}

func hueSixth(c [3]int, hi, lo int) int {
	d := float64(hi - lo)
	var h float64
	switch hi {
	case c[0]:
		h = float64(c[1]-c[2]) / d
		if h < 0 {
			h += 6
		}
	case c[1]:
		h = float64(c[2]-c[0])/d + 2
	default:
		h = float64(c[0]-c[1])/d + 4
	}
	return min(int(h), 5)
}

// CountColour counts the pixels of r in img within tol of each channel of
// want.
func CountColour(img image.Image, r image.Rectangle, want [3]int, tol int) int {
	r = r.Intersect(img.Bounds())
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			R, G, B, _ := img.At(x, y).RGBA()
			if abs(int(R>>8)-want[0]) <= tol && abs(int(G>>8)-want[1]) <= tol && abs(int(B>>8)-want[2]) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// CheckScreenshot checks a screenshot of the page: a coloured depth image
// and a non-empty path, by their pixels.
func CheckScreenshot(t testing.TB, shot *Shot) {
	t.Helper()
	if !shot.Ready {
		t.Error("the page never showed depth and a path")
	}
	keep := func() {
		p := filepath.Join(os.TempDir(), fmt.Sprintf("parallax-page-%d.png", time.Now().UnixNano()))
		os.WriteFile(p, shot.PNG, 0o644)
		t.Logf("screenshot kept in %s", p)
	}
	d, ok := shot.Rects["#depth-0"]
	if !ok || d.Dx() < 100 {
		keep()
		t.Fatalf("no depth image on the page (%v)", shot.Rects)
	}
	if sat, total, hues := Colourful(shot.Image, d); sat < total/2 || hues < 3 {
		keep()
		t.Errorf("depth image %v: %d of %d pixels saturated, %d hues: not a colour map", d, sat, total, hues)
	}
	p, ok := shot.Rects["#path"]
	if !ok {
		keep()
		t.Fatal("no path canvas")
	}
	if n := CountColour(shot.Image, p, [3]int{255, 176, 0}, 40); n < 50 {
		keep()
		t.Errorf("path canvas %v: %d path-coloured pixels", p, n)
	}
}
