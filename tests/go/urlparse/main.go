// Command urlparse is the Go oracle for tests/url_differential.rs.
//
// It reads one request per line from stdin, fields separated by tabs, every
// argument hex-encoded (Go strings are bytes), and answers one line each:
//
//	request METHOD TARGET -> err | redirect <class> | route <class>
//	    parsed by net/http.ReadRequest (the daemon's own code path); a path
//	    that is not clean is what gorilla/mux answers with a 301; <class> is
//	    build, session, grpc, _ping or none, matched like dockerd's routes
//	    "/v{version:[0-9.]+}/<name>" and "/<name>".
//	query RAW -> ok|err, then key=v1,v2,... (all hex), keys sorted
//	    url.ParseQuery: the values the daemon's r.Form holds.
//	labels JSON -> ok|err, then key=value (hex), keys sorted
//	    json.Unmarshal into map[string]string, as the daemon reads labels.
//
// Standard library only: the test builds it with the installed go.
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

var route = regexp.MustCompile(`^(?:/v[0-9.]+)?/(build|session|grpc|_ping)$`)

func class(p string) string {
	if m := route.FindStringSubmatch(p); m != nil {
		return m[1]
	}
	return "none"
}

// muxClean is what gorilla/mux compares the decoded path with: rooted,
// path.Clean, trailing slash kept except for "/".
func muxClean(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func h(s string) string { return hex.EncodeToString([]byte(s)) }

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fields := strings.Split(in.Text(), "\t")
		args := make([]string, 0, len(fields)-1)
		for _, f := range fields[1:] {
			b, err := hex.DecodeString(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bad hex:", err)
				os.Exit(2)
			}
			args = append(args, string(b))
		}
		switch fields[0] {
		case "request":
			raw := args[0] + " " + args[1] + " HTTP/1.1\r\nHost: docker\r\n\r\n"
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				fmt.Fprintln(out, "err")
				continue
			}
			p := req.URL.Path
			if c := muxClean(p); c != p {
				fmt.Fprintln(out, "redirect", class(c))
			} else {
				fmt.Fprintln(out, "route", class(p))
			}
		case "query":
			v, err := url.ParseQuery(args[0])
			printMap(out, err, len(v), func(emit func(string, string)) {
				for k, vs := range v {
					hs := make([]string, len(vs))
					for i, x := range vs {
						hs[i] = h(x)
					}
					emit(h(k), strings.Join(hs, ","))
				}
			})
		case "labels":
			m := map[string]string{}
			err := json.Unmarshal([]byte(args[0]), &m)
			printMap(out, err, len(m), func(emit func(string, string)) {
				for k, x := range m {
					emit(h(k), h(x))
				}
			})
		default:
			fmt.Fprintln(os.Stderr, "unknown op", fields[0])
			os.Exit(2)
		}
	}
}

func printMap(out *bufio.Writer, err error, n int, each func(func(string, string))) {
	status := "ok"
	if err != nil {
		status = "err"
	}
	entries := make([]string, 0, n)
	each(func(k, v string) { entries = append(entries, k+"="+v) })
	sort.Strings(entries)
	fmt.Fprintln(out, strings.Join(append([]string{status}, entries...), "\t"))
}
