// Command checkpoint-api asks kubelet to checkpoint a container through its
// checkpoint API, POST /checkpoint/{namespace}/{pod}/{container} on its
// HTTPS port, and prints the archive paths kubelet answers, one per line.
// The kubelet of the end-to-end test serves a self-signed certificate and
// allows anonymous requests, so no client certificate is sent.
//
// usage: checkpoint-api [-addr 127.0.0.1:10250] [-timeout 120] NAMESPACE POD CONTAINER
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10250", "kubelet's HTTPS address")
	timeout := flag.Int("timeout", 120, "seconds kubelet gives the runtime")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: checkpoint-api [-addr host:port] [-timeout s] NAMESPACE POD CONTAINER")
		os.Exit(2)
	}
	if err := run(*addr, *timeout, flag.Arg(0), flag.Arg(1), flag.Arg(2)); err != nil {
		fmt.Fprintln(os.Stderr, "checkpoint-api:", err)
		os.Exit(1)
	}
}

func run(addr string, timeout int, ns, pod, container string) error {
	u := url.URL{
		Scheme:   "https",
		Host:     addr,
		Path:     "/checkpoint/" + url.PathEscape(ns) + "/" + url.PathEscape(pod) + "/" + url.PathEscape(container),
		RawQuery: fmt.Sprintf("timeout=%d", timeout),
	}
	client := &http.Client{
		Timeout:   time.Duration(timeout+30) * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // kubelet's self-signed serving certificate
	}
	resp, err := client.Post(u.String(), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	var answer struct {
		Items []string `json:"items"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("answer %q: %w", body, err)
	}
	for _, item := range answer.Items {
		fmt.Println(item)
	}
	return nil
}
