package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// strategy is the API server's create-time validation of one custom resource version.
type strategy interface {
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
}

type servedVersion struct {
	structural *structuralschema.Structural
	strategy   strategy
}

// apiServer serves the CRDs of one file the way kube-apiserver's apiextensions handler does.
type apiServer struct {
	versions map[schema.GroupVersionKind]servedVersion
}

func loadCRDs(file string) (*apiServer, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	served := &apiServer{versions: map[schema.GroupVersionKind]servedVersion{}}
	reader := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(text), 4096)
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := reader.Decode(&crd); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			sv, err := serve(&crd, v)
			if err != nil {
				return nil, fmt.Errorf("%s: CRD %s %s: %v", file, crd.Name, v.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			served.versions[gvk] = sv
		}
	}
	return served, nil
}

func serve(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) (servedVersion, error) {
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return servedVersion{}, err
	}
	structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return servedVersion{}, err
	}
	structural = structural.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(structural); err != nil {
		return servedVersion{}, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return servedVersion{}, err
	}
	kind := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
	namespaced := crd.Spec.Scope == apiextensionsv1.NamespaceScoped
	s := customresource.NewStrategy(nil, namespaced, kind, validator, nil, structural, nil, nil, v.SelectableFields)
	return servedVersion{structural: structural, strategy: s}, nil
}

// judges tells whether doc is of a kind these CRDs define.
func (a *apiServer) judges(doc *unstructured.Unstructured) bool {
	_, ok := a.versions[doc.GroupVersionKind()]
	return ok
}

// validate is what a create with strict field validation (kubectl's default) reports: unknown
// fields (found while decoding and pruning), then the strategy's checks.
func (a *apiServer) validate(doc *unstructured.Unstructured) []string {
	sv := a.versions[doc.GroupVersionKind()]
	obj := doc.DeepCopy()
	problems := []string{}
	_, _, unknownMeta, err := schemaobjectmeta.GetObjectMetaWithOptions(obj.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return append(problems, err.Error())
	}
	unknown := append(unknownMeta, structuralpruning.PruneWithOptions(obj.Object, sv.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, path := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", path))
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj.Object, sv.structural)
	if err := schemaobjectmeta.Coerce(nil, obj.Object, sv.structural, true, false); err != nil {
		return append(problems, err.Error())
	}
	structuraldefaulting.Default(obj.Object, sv.structural)
	ctx := request.WithNamespace(context.Background(), obj.GetNamespace())
	for _, e := range sv.strategy.Validate(ctx, obj) {
		problems = append(problems, e.Error())
	}
	return problems
}
