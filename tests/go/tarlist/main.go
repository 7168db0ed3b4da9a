// Command tarlist prints the entries Go's archive/tar reads from a tar file, one JSON
// object per line, so the gateway's reader and writer can be compared with the reader
// dockerd uses. Byte strings are hex because names need not be UTF-8.
//
// It lists what dockerd would act on: PAX global headers are skipped (dockerd ignores
// them), the link target only for links, and the size as the number of data bytes Go
// actually hands out. On any error it prints "ERROR <message>" as its last line.
//
// Usage: tarlist FILE
package main

import (
	"archive/tar"
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

type entry struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Mode     int64      `json:"mode"`
	UID      int        `json:"uid"`
	GID      int        `json:"gid"`
	Uname    string     `json:"uname"`
	Gname    string     `json:"gname"`
	Mtime    int64      `json:"mtime"`
	Size     int64      `json:"size"`
	Linkname string     `json:"linkname"`
	Xattrs   [][]string `json:"xattrs"`
	Data     string     `json:"data"`
}

func hexs(s string) string { return hex.EncodeToString([]byte(s)) }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tarlist FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintf(out, "ERROR %v\n", err)
			return
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			fmt.Fprintf(out, "ERROR reading %q: %v\n", hdr.Name, err)
			return
		}
		e := entry{
			Name:   hexs(hdr.Name),
			Mode:   hdr.Mode & 07777,
			UID:    hdr.Uid,
			GID:    hdr.Gid,
			Uname:  hexs(hdr.Uname),
			Gname:  hexs(hdr.Gname),
			Mtime:  hdr.ModTime.Unix(),
			Size:   int64(len(data)),
			Xattrs: [][]string{},
			Data:   hex.EncodeToString(data),
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			e.Type = "regular"
		case tar.TypeDir:
			e.Type = "directory"
		case tar.TypeSymlink:
			e.Type = "symlink"
			e.Linkname = hexs(hdr.Linkname)
		case tar.TypeLink:
			e.Type = "hardlink"
			e.Linkname = hexs(hdr.Linkname)
		default:
			e.Type = fmt.Sprintf("other:%d", hdr.Typeflag)
		}
		keys := make([]string, 0, len(hdr.Xattrs))
		for k := range hdr.Xattrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.Xattrs = append(e.Xattrs, []string{hexs(k), hexs(hdr.Xattrs[k])})
		}
		b, _ := json.Marshal(e)
		out.Write(b)
		out.WriteString("\n")
	}
}
