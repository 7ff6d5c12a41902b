package viewer

import (
	"embed"
	"io/fs"
	"net/http"
	"sort"

	"github.com/coder/websocket"
)

// web holds the page: HTML, script and style, no external resource.
//
//go:embed web
var web embed.FS

func staticHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil { // cannot happen: "web" is a valid path of the embedded tree
		return http.NotFoundHandler()
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// servePage serves the page itself.
func (v *Viewer) servePage(w http.ResponseWriter, r *http.Request) {
	b, err := web.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// servePageFeed runs the page's own feed: a WebSocket (same origin only)
// of JSON messages and binary JPEGs, see the package documentation.
func (v *Viewer) servePageFeed(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		v.Logger.Warn("viewer: page feed handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := v.newClient(kindPage, conn, r)
	if !v.register(c) {
		conn.Close(websocket.StatusGoingAway, "node stopping")
		return
	}
	if st := v.state.Load(); st != nil {
		c.q.putControl(item{typ: textMessage, data: v.pageHello(st)})
		v.page.mu.Lock()
		for k, jpg := range v.page.images {
			c.q.put(imageItem(k>>16, k&0xffff, jpg))
		}
		v.page.mu.Unlock()
	} else {
		c.sendJSON(map[string]any{"op": "hello", "name": v.ServerName, "starting": true})
	}
	go c.writeLoop()
	// The page sends nothing; reading keeps the control frames (ping,
	// close) answered and notices when it goes.
	for {
		if _, _, err := conn.Read(c.ctx); err != nil {
			c.close(err)
			break
		}
	}
	<-c.written
}

// pageHello is the first message a page gets: the rig, and what happened
// so far (trajectory, learner history, diagnostics, colour ranges).
func (v *Viewer) pageHello(st *rigState) []byte {
	poses := st.path.snapshot()
	path := make([][3]float64, len(poses))
	for i, p := range poses {
		path[i] = p.T
	}
	refs := make([]int, len(st.refs))
	for i, c := range st.refs {
		refs[i] = st.cams[c].index
	}
	d := v.page.diagnosticsMessage()
	v.page.mu.Lock()
	hist := append([]map[string]any(nil), v.page.history...)
	ranges := map[int][2]float64{}
	for k, r := range v.page.ranges {
		ranges[k] = r
	}
	v.page.mu.Unlock()
	return jsonItem(map[string]any{"op": "hello", "name": v.ServerName, "namespace": string(st.rig.Namespace),
		"cameras": st.rig.Cameras, "reference": refs, "path": path, "learner": hist, "diagnostics": d["status"],
		"ranges": ranges, "fixedRange": v.DepthMin > 0 && v.DepthMax > v.DepthMin}).data
}

func sortByName(list []map[string]any) {
	sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
}
