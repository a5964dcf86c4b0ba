// cluster-smoke: the one static binary inside the smoke suite's test image.
//
//	cluster-smoke serve                 HTTP server on $PORT (default 8080): / answers JSON
//	cluster-smoke get URL               GET URL, print the body; exit 1 on any failure
//	cluster-smoke lookup NAME           resolve NAME with the pod's resolv.conf
//	cluster-smoke write FILE TEXT       write TEXT to FILE
//	cluster-smoke cat FILE              print FILE
//	cluster-smoke sleep                 sleep until terminated
//	cluster-smoke exit CODE             exit with CODE (Jobs)
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: cluster-smoke serve|get|lookup|write|cat|sleep|exit ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		serve()
	case "get":
		need(args, 1)
		get(args[0])
	case "lookup":
		need(args, 1)
		addrs, err := net.LookupHost(args[0])
		check(err)
		for _, addr := range addrs {
			fmt.Println(addr)
		}
	case "write":
		need(args, 2)
		check(os.WriteFile(args[0], []byte(args[1]), 0o644))
	case "cat":
		need(args, 1)
		data, err := os.ReadFile(args[0])
		check(err)
		fmt.Print(string(data))
	case "sleep":
		waitForSignal()
	case "exit":
		need(args, 1)
		code, err := strconv.Atoi(args[0])
		check(err)
		os.Exit(code)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	hostname, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"hostname": hostname,
			"version":  os.Getenv("SMOKE_VERSION"),
		})
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	server := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		waitForSignal()
		_ = server.Close()
	}()
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail(err.Error())
	}
}

func get(url string) {
	client := &http.Client{Timeout: 5 * time.Second}
	response, err := client.Get(url)
	check(err)
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	check(err)
	if response.StatusCode != http.StatusOK {
		fail(fmt.Sprintf("GET %s: HTTP %d", url, response.StatusCode))
	}
	fmt.Print(string(body))
}

func waitForSignal() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}

func need(args []string, n int) {
	if len(args) < n {
		fail(fmt.Sprintf("expected %d argument(s)", n))
	}
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "cluster-smoke:", message)
	os.Exit(1)
}
