package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pkg/util/sets"
	"istio.io/istio/pkg/wasm"
)

type fetchResult struct {
	Accepted bool `json:"accepted"`
	// ModuleSHA256 is the hash of the bytes the cache hands to Envoy.
	ModuleSHA256 string `json:"module_sha256,omitempty"`
	// Checksum is what the cache keyed the module by: the image's manifest digest for oci://.
	Checksum string `json:"checksum,omitempty"`
	Error    string `json:"error,omitempty"`
}

// fetchCommand runs the agent's module cache once, as it does for one WasmPlugin.
func fetchCommand(args []string) (int, error) {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	moduleURL := fs.String("url", "", "the WasmPlugin's url")
	checksum := fs.String("sha256", "", "the WasmPlugin's sha256")
	policy := fs.String("pull-policy", "", "the WasmPlugin's imagePullPolicy: IfNotPresent or Always")
	secret := fs.String("pull-secret", "", "a file with the kubernetes.io/dockerconfigjson Secret the WasmPlugin names")
	ca := fs.String("ca", "", "a PEM file of CAs the proxy trusts (as if in the system's trust store)")
	insecure := fs.Bool("insecure", false, "list the registry among the agent's insecure registries")
	out := fs.String("out", "", "also copy the module to FILE")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if *moduleURL == "" {
		return 0, fmt.Errorf("fetch needs --url")
	}
	if *ca != "" {
		// Go reads the system roots once, from here; the agent trusts what its image trusts.
		os.Setenv("SSL_CERT_FILE", *ca)
	}
	opts, err := getOptions(*checksum, *policy, *secret)
	if err != nil {
		return 0, err
	}
	result, err := fetch(*moduleURL, *insecure, opts, *out)
	if err != nil {
		return 0, err
	}
	emit(result)
	if !result.Accepted {
		return 1, nil
	}
	return 0, nil
}

func getOptions(checksum, policy, secretFile string) (wasm.GetOptions, error) {
	opts := wasm.GetOptions{
		Checksum:        checksum,
		ResourceName:    "default/plugin",
		ResourceVersion: "1",
		RequestTimeout:  30 * time.Second,
	}
	if policy != "" {
		p, ok := wasm.PullPolicyValues[policy]
		if !ok {
			return opts, fmt.Errorf("unknown pull policy %q", policy)
		}
		opts.PullPolicy = p
	}
	if secretFile != "" {
		data, err := dockerConfig(secretFile)
		if err != nil {
			return opts, err
		}
		opts.PullSecret = data
	}
	return opts, nil
}

// dockerConfig reads the Secret among the YAML documents of file and returns what istiod hands the
// agent: the `.dockerconfigjson` of a Secret of type kubernetes.io/dockerconfigjson.
func dockerConfig(file string) ([]byte, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(text), "\n---") {
		var secret corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(doc), &secret); err != nil || secret.Kind != "Secret" {
			continue
		}
		if secret.Type != corev1.SecretTypeDockerConfigJson {
			return nil, fmt.Errorf("type of secret %s is not %s", secret.Name, corev1.SecretTypeDockerConfigJson)
		}
		if cred, ok := secret.Data[corev1.DockerConfigJsonKey]; ok {
			return cred, nil
		}
		return nil, fmt.Errorf("cannot find docker config at secret %s", secret.Name)
	}
	return nil, fmt.Errorf("no Secret in %s", file)
}

func fetch(moduleURL string, insecure bool, opts wasm.GetOptions, out string) (fetchResult, error) {
	dir, err := os.MkdirTemp("", "wasmctl-interop-cache-")
	if err != nil {
		return fetchResult{}, err
	}
	defer os.RemoveAll(dir)
	options := wasm.Options{InsecureRegistries: sets.New[string]()}
	if insecure {
		if u, err := url.Parse(moduleURL); err == nil {
			options.InsecureRegistries.Insert(u.Host)
		}
	}
	cache := wasm.NewLocalFileCache(dir, options)
	defer cache.Cleanup()
	path, err := cache.Get(moduleURL, opts)
	if err != nil {
		return fetchResult{Error: err.Error()}, nil
	}
	module, err := os.ReadFile(path)
	if err != nil {
		return fetchResult{}, err
	}
	if out != "" {
		if err := os.WriteFile(out, module, 0o644); err != nil {
			return fetchResult{}, err
		}
	}
	sum := sha256.Sum256(module)
	return fetchResult{
		Accepted:     true,
		ModuleSHA256: hex.EncodeToString(sum[:]),
		Checksum:     strings.TrimSuffix(filepath.Base(path), ".wasm"),
	}, nil
}
