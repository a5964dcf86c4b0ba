"""Write the JSON schemas kubeconform validates the rendered charts against.

Every schema is generated from an upstream source fetched through the package registries, never
written by hand:

* Kubernetes kinds: the OpenAPI v3 documents in ``api/openapi-spec/v3`` of the ``k8s.io/kubernetes``
  Go module at the pinned KUBERNETES_VERSION.
* ServiceMonitor, PodMonitor, PrometheusRule: the CRDs (openAPIV3Schema) shipped in the
  ``github.com/prometheus-operator/prometheus-operator`` Go module.
* HTTPRoute (and the rest of the standard channel): the CRDs of the ``sigs.k8s.io/gateway-api`` Go module.
* Rollout, AnalysisTemplate: the CRDs in ``manifests/crds`` of the ``github.com/argoproj/argo-rollouts`` Go
  module; TraefikService (and Traefik's other kinds): the CRD file of ``github.com/traefik/traefik/v3``. These
  are read from the module zips (``--crd-in-zip``), since Go refuses to extract a module that needs a newer
  Go than the local one while it still downloads its zip.
* InferenceService, ServingRuntime: the model classes of the KServe Python SDK wheel (``kserve`` on PyPI); their
  ``openapi_types`` / ``attribute_map`` tables and required-field checks are turned into a schema,
  with the Kubernetes types they reference (V1Container, ...) taken from the Kubernetes OpenAPI above.

The output follows kubeconform's schema-location layout ``<kind><kind-suffix>.json`` (for example
``deployment-apps-v1.json``, ``service-v1.json``, ``httproute-gateway-v1.json``). Every object that
lists its properties is closed with ``additionalProperties: false`` so that a typo fails validation.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]


def kind_file_name(kind: str, api_version: str) -> str:
    """kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` for one kind."""
    group_parts = api_version.split("/")
    suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        suffix += "-" + group_parts[1].lower()
    return f"{kind.lower()}{suffix}.json"


def close_objects(node: Any) -> Any:
    """Forbid unknown fields in every object schema that names its properties (kubeconform -strict)."""
    if isinstance(node, dict):
        for value in node.values():
            close_objects(value)
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    elif isinstance(node, list):
        for value in node:
            close_objects(value)
    return node


def pin_kind(schema: Schema, kind: str, api_version: str) -> Schema:
    """Require the object's own apiVersion and kind, as the API server would."""
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
    return schema


# --- Kubernetes built-in kinds -------------------------------------------------------------------


def load_kubernetes_definitions(spec_dir: Path) -> Schema:
    definitions: Schema = {}
    for doc in sorted(spec_dir.glob("*_openapi.json")):
        definitions.update(json.loads(doc.read_text()).get("components", {}).get("schemas", {}))
    return definitions


def rewrite_refs(node: Any, prefix: str = "#/components/schemas/") -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            node["$ref"] = "#/definitions/" + ref[len(prefix) :]
        for key, value in list(node.items()):
            if key == "nullable" and value is True and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            rewrite_refs(value, prefix)
    elif isinstance(node, list):
        for value in node:
            rewrite_refs(value, prefix)
    return node


def reachable(definitions: Schema, root: str) -> list[str]:
    seen: list[str] = []
    stack = [root]
    while stack:
        name = stack.pop()
        if name in seen or name not in definitions:
            continue
        seen.append(name)
        stack.extend(re.findall(r'"#/definitions/([^"]+)"', json.dumps(definitions[name])))
    return seen


def standalone(definitions: Schema, root: str) -> Schema:
    """One self-contained schema for ``root`` with the definitions it reaches."""
    names = reachable(definitions, root)
    schema = copy.deepcopy(definitions[root])
    schema["definitions"] = {name: copy.deepcopy(definitions[name]) for name in names}
    return close_objects(schema)


def write_kubernetes(spec_dir: Path, out: Path) -> tuple[int, Schema]:
    raw = load_kubernetes_definitions(spec_dir)
    definitions = rewrite_refs(copy.deepcopy(raw))
    count = 0
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            if kind.endswith("List") or "properties" not in schema or "metadata" not in schema["properties"]:
                continue
            api_version = f"{group}/{version}" if group else version
            doc = pin_kind(standalone(definitions, name), kind, api_version)
            (out / kind_file_name(kind, api_version)).write_text(json.dumps(doc))
            count += 1
    return count, definitions


# --- CRDs (Prometheus Operator, Gateway API) -----------------------------------------------------


def read_in_zip(spec: str) -> str:
    """``<module zip>!<path in the module>``: the file's text (module zips prefix every path with module@version/)."""
    zip_path, member = spec.split("!", 1)
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if n[n.find("/", n.find("@")) + 1 :] == member]
        if not names:
            raise SystemExit(f"build_schemas: {member} is not in {zip_path}")
        return archive.read(names[0]).decode()


def write_crds(crd_files: list[Path], out: Path, crd_texts: list[str] = ()) -> list[str]:
    written: list[str] = []
    for text in [path.read_text() for path in crd_files] + list(crd_texts):
        for crd in yaml.safe_load_all(text):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if not schema or not version.get("served", True):
                    continue
                api_version = f"{group}/{version['name']}"
                doc = pin_kind(close_objects(copy.deepcopy(schema)), kind, api_version)
                doc["properties"]["metadata"] = {"type": "object"}
                name = kind_file_name(kind, api_version)
                (out / name).write_text(json.dumps(doc))
                written.append(name)
    return written


# --- KServe, from the Python SDK's generated model classes ---------------------------------------

PRIMITIVES: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "object": {},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
    "ResourceQuantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


class SdkModel:
    def __init__(
        self, types: dict[str, str], attributes: dict[str, str], required: set[str], enums: dict[str, list[Any]]
    ):
        self.types, self.attributes, self.required, self.enums = types, attributes, required, enums


def parse_sdk_models(wheel: Path) -> dict[str, SdkModel]:
    """Read ``openapi_types``, ``attribute_map``, required and enum checks of every SDK model class."""
    models: dict[str, SdkModel] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not re.fullmatch(r"kserve/models/[a-z0-9_]+\.py", member) or member.endswith("__init__.py"):
                continue
            source = archive.read(member).decode()
            for node in ast.parse(source).body:
                if not isinstance(node, ast.ClassDef):
                    continue
                tables: dict[str, dict[str, str]] = {}
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                        if stmt.targets[0].id in ("openapi_types", "attribute_map"):
                            tables[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                required = set(re.findall(r"Invalid value for `(\w+)`, must not be `None`", source))
                enums: dict[str, list[Any]] = {}
                for func in (s for s in node.body if isinstance(s, ast.FunctionDef)):
                    for stmt in ast.walk(func):
                        if (
                            isinstance(stmt, ast.Assign)
                            and isinstance(stmt.targets[0], ast.Name)
                            and stmt.targets[0].id == "allowed_values"
                        ):
                            enums[func.name] = ast.literal_eval(stmt.value)
                if "openapi_types" in tables:
                    models[node.name] = SdkModel(
                        tables["openapi_types"], tables.get("attribute_map", {}), required, enums
                    )
    return models


def kubernetes_class_index(definitions: Schema) -> dict[str, str]:
    """Map the Python client's class names (V1Container, K8sIoApiAppsV1DeploymentStrategy) to definitions."""
    index: dict[str, str] = {}
    preferred = ("io.k8s.api.core.", "io.k8s.apimachinery.pkg.apis.meta.")
    for name in sorted(definitions, key=lambda n: (not n.startswith(preferred), n)):
        parts = name.split(".")
        version, kind = parts[-2], parts[-1]
        index.setdefault(version[:1].upper() + version[1:] + kind, name)
        # Go package path form: io.k8s.api.apps.v1.X -> K8sIoApiAppsV1X
        go_path = [parts[1], parts[0], *parts[2:]]
        index.setdefault("".join(p[:1].upper() + p[1:] for p in go_path), name)
    return index


class KServeSchemaBuilder:
    def __init__(self, models: dict[str, SdkModel], k8s_definitions: Schema):
        self.models = models
        self.k8s = k8s_definitions
        self.k8s_index = kubernetes_class_index(k8s_definitions)
        self.definitions: Schema = {}
        self.unresolved: set[str] = set()

    def type_schema(self, type_name: str) -> Schema:
        type_name = type_name.strip()
        if type_name in PRIMITIVES:
            return copy.deepcopy(PRIMITIVES[type_name])
        if match := re.fullmatch(r"list\[(.+)\]", type_name):
            return {"type": "array", "items": self.type_schema(match.group(1))}
        if match := re.fullmatch(r"dict\(str, (.+)\)", type_name):
            return {"type": "object", "additionalProperties": self.type_schema(match.group(1))}
        if type_name in self.models:
            self.model_definition(type_name)
            return {"$ref": f"#/definitions/{type_name}"}
        if type_name in self.k8s_index:
            root = self.k8s_index[type_name]
            for name in reachable(self.k8s, root):
                self.definitions.setdefault(name, copy.deepcopy(self.k8s[name]))
            return {"$ref": f"#/definitions/{root}"}
        # A Kubernetes type newer than the pinned Kubernetes version: accept any object.
        self.unresolved.add(type_name)
        return {"type": "object"}

    def model_definition(self, class_name: str) -> None:
        if class_name in self.definitions:
            return
        self.definitions[class_name] = {}  # placeholder against recursion
        model = self.models[class_name]
        properties: Schema = {}
        for attr, type_name in model.types.items():
            prop = self.type_schema(type_name)
            if attr in model.enums:
                prop["enum"] = model.enums[attr]
            properties[model.attributes.get(attr, attr)] = prop
        schema: Schema = {"type": "object", "properties": properties}
        required = sorted(model.attributes.get(a, a) for a in model.required)
        if required:
            schema["required"] = required
        self.definitions[class_name] = schema

    def standalone(self, class_name: str, kind: str, api_version: str) -> Schema:
        self.model_definition(class_name)
        root = copy.deepcopy(self.definitions[class_name])
        root["properties"].pop("status", None)
        root["definitions"] = copy.deepcopy(self.definitions)
        return pin_kind(close_objects(root), kind, api_version)


KSERVE_KINDS = (
    ("V1beta1InferenceService", "InferenceService", "serving.kserve.io/v1beta1"),
    ("V1alpha1ServingRuntime", "ServingRuntime", "serving.kserve.io/v1alpha1"),
)


def write_kserve(wheel: Path, k8s_definitions: Schema, out: Path) -> tuple[list[str], set[str]]:
    builder = KServeSchemaBuilder(parse_sdk_models(wheel), k8s_definitions)
    names = []
    for class_name, kind, api_version in KSERVE_KINDS:
        doc = builder.standalone(class_name, kind, api_version)
        names.append(kind_file_name(kind, api_version))
        (out / names[-1]).write_text(json.dumps(doc))
    return names, builder.unresolved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-openapi", type=Path, required=True, help="api/openapi-spec/v3 folder")
    parser.add_argument("--crd", type=Path, action="append", default=[], help="CRD YAML file (repeatable)")
    parser.add_argument(
        "--crd-in-zip",
        action="append",
        default=[],
        metavar="ZIP!PATH",
        help="CRD YAML file inside a Go module zip (repeatable)",
    )
    parser.add_argument("--kserve-wheel", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    for path in [
        args.kubernetes_openapi,
        args.kserve_wheel,
        *args.crd,
        *(Path(spec.split("!", 1)[0]) for spec in args.crd_in_zip),
    ]:
        if not path.exists():
            print(f"build_schemas: {path} not found; run 'make chart-schemas' to fetch the sources", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    count, definitions = write_kubernetes(args.kubernetes_openapi, args.out)
    crds = write_crds(args.crd, args.out, [read_in_zip(spec) for spec in args.crd_in_zip])
    kserve, unresolved = write_kserve(args.kserve_wheel, definitions, args.out)
    print(f"schemas: {count} Kubernetes kinds, {len(crds)} CRD versions, {', '.join(kserve)} -> {args.out}")
    if unresolved:
        print(f"  KServe SDK types not in this Kubernetes version (accepted as objects): {sorted(unresolved)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
