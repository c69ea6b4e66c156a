package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// The modules whose code this binary runs, as they were resolved when it was built.
var tracked = []string{"istio.io/istio", "istio.io/api", "k8s.io/apiextensions-apiserver", "k8s.io/apiserver"}

func moduleVersions() (map[string]string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, fmt.Errorf("the binary carries no build information")
	}
	found := map[string]string{}
	for _, dep := range info.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		found[dep.Path] = dep.Version
	}
	return found, nil
}

func versionsCommand() error {
	found, err := moduleVersions()
	if err != nil {
		return err
	}
	out := map[string]string{}
	for _, path := range tracked {
		out[path] = found[path]
	}
	emit(out)
	return nil
}

// defaultCRDs is the CRD file that the istio.io/api module this binary was built with ships, in the
// module cache (GOMODCACHE, else GOPATH/pkg/mod, else ~/go/pkg/mod).
func defaultCRDs() (string, error) {
	found, err := moduleVersions()
	if err != nil {
		return "", err
	}
	version := found["istio.io/api"]
	if version == "" {
		return "", fmt.Errorf("istio.io/api is not among the binary's modules")
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			gopath = filepath.Join(home, "go")
		}
		cache = filepath.Join(gopath, "pkg", "mod")
	}
	path := filepath.Join(cache, "istio.io", "api@"+version, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the CRDs of istio.io/api %s: %v (run `go mod download` in tests/interop, or pass --crds)", version, err)
	}
	return path, nil
}
