// Command wasmctl-interop holds wasmctl to the code Istio and Kubernetes run: Istio's Wasm module
// fetcher and cache (the agent's), Istio's validation webhook, and the API server's checks of a
// custom resource against its CRD (structural schema, list types and CEL rules).
//
//	wasmctl-interop fetch --url oci://HOST/REPO:TAG [--sha256 HEX] [--pull-policy P] [--pull-secret FILE] [--ca FILE] [--insecure] [--out FILE]
//	wasmctl-interop validate [--crds FILE] FILE...
//	wasmctl-interop versions
//
// Results go to stdout as one JSON object a line; a refusal exits 1, a usage error 2.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"istio.io/istio/pkg/log"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Istio's own logs go to stderr: stdout carries only the results.
	logOptions := log.DefaultOptions()
	logOptions.OutputPaths = []string{"stderr"}
	logOptions.ErrorOutputPaths = []string{"stderr"}
	logOptions.SetDefaultOutputLevel(log.DefaultScopeName, log.WarnLevel)
	if err := log.Configure(logOptions); err != nil {
		fmt.Fprintf(os.Stderr, "wasmctl-interop: %v\n", err)
		os.Exit(2)
	}
	var err error
	code := 0
	switch os.Args[1] {
	case "fetch":
		code, err = fetchCommand(os.Args[2:])
	case "validate":
		code, err = validateCommand(os.Args[2:])
	case "versions":
		err = versionsCommand()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmctl-interop: %v\n", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wasmctl-interop fetch|validate|versions ...")
	os.Exit(2)
}

// emit prints one result line.
func emit(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))
}
