package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/webhooks/validation/server"
)

type verdict struct {
	File     string `json:"file"`
	Document int    `json:"document"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Accepted bool   `json:"accepted"`
	// Kubernetes holds the API server's objections: unknown fields, schema, list types, CEL rules.
	Kubernetes []string `json:"kubernetes"`
	// Istio holds the validation webhook's objection, if any.
	Istio string `json:"istio,omitempty"`
}

// validateCommand judges every WasmPlugin and TrafficExtension in the files as a cluster would on
// `kubectl apply`: the API server against the CRD, then Istio's validating webhook.
func validateCommand(args []string) (int, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	crds := fs.String("crds", "", "the CRD file [default: the one istio.io/api ships in the module cache]")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 {
		return 0, fmt.Errorf("validate needs at least one file")
	}
	if *crds == "" {
		path, err := defaultCRDs()
		if err != nil {
			return 0, err
		}
		*crds = path
	}
	apiServer, err := loadCRDs(*crds)
	if err != nil {
		return 0, err
	}
	webhook, err := newWebhook()
	if err != nil {
		return 0, err
	}
	code := 0
	for _, file := range fs.Args() {
		docs, err := readDocuments(file)
		if err != nil {
			return 0, err
		}
		for i, doc := range docs {
			v := verdict{File: file, Document: i, Kind: doc.GetKind(), Name: doc.GetName(), Kubernetes: []string{}}
			if !apiServer.judges(doc) {
				continue
			}
			if doc.GetNamespace() == "" {
				// kubectl sends the context's namespace.
				doc.SetNamespace("default")
			}
			v.Kubernetes = apiServer.validate(doc)
			v.Istio = webhook.validate(doc)
			v.Accepted = len(v.Kubernetes) == 0 && v.Istio == ""
			if !v.Accepted {
				code = 1
			}
			emit(v)
		}
	}
	return code, nil
}

// readDocuments reads each YAML or JSON document of file as an object.
func readDocuments(file string) ([]*unstructured.Unstructured, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(text), 4096)
	var docs []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		if err := reader.Decode(&obj); err == io.EOF {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if len(obj) > 0 {
			docs = append(docs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// webhook is Istio's validating admission webhook, as istiod serves it, reached in process.
type webhook struct {
	mux *http.ServeMux
}

func newWebhook() (*webhook, error) {
	mux := http.NewServeMux()
	_, err := server.New(server.Options{
		Schemas:      collections.PilotGatewayAPI(),
		DomainSuffix: "cluster.local",
		Mux:          mux,
	})
	return &webhook{mux: mux}, err
}

// validate sends doc as kube-apiserver would on create; "" when the webhook allows it.
func (w *webhook) validate(doc *unstructured.Unstructured) string {
	raw, err := json.Marshal(doc.Object)
	if err != nil {
		return err.Error()
	}
	gvk := doc.GroupVersionKind()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "1",
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Name:      doc.GetName(),
			Namespace: doc.GetNamespace(),
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return err.Error()
	}
	request := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/validate", bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	recorder := httptest.NewRecorder()
	w.mux.ServeHTTP(recorder, request)
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil || answer.Response == nil {
		return fmt.Sprintf("unreadable webhook answer (%d): %s", recorder.Code, strings.TrimSpace(recorder.Body.String()))
	}
	if answer.Response.Allowed {
		return ""
	}
	if answer.Response.Result != nil {
		return answer.Response.Result.Message
	}
	return "denied"
}
