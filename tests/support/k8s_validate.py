#!/usr/bin/env python3
"""Validate the Kubernetes objects fleetform renders against the real Kubernetes schemas, strictly.

Why: fleetform writes multi-document YAML for a cluster (a scheduling.k8s.io/v1 PriorityClass,
apps/v1 Deployments of pause pods, the v1 ConfigMap of cluster-autoscaler's priority expander).
A snapshot only proves the output did not change; this proves the API server would accept its
shape: every field known (an unknown or misspelt field, e.g. `tolerations[0].efect`, is refused,
as `kubeconform -strict` does), every value of the right type, every required field present,
each key once. It runs offline: the schemas come from an installed package, not the network.

Schemas: the PyPI package kubernetes-validate (pinned in requirements-test.txt, installed into
.venv by scripts/setup-venv), which bundles JSON schemas generated from the Kubernetes OpenAPI
spec for each Kubernetes minor version, in a "strict" variant (additionalProperties: false
everywhere). Its own validate() stops at the first error and its CLI only warns (and passes) on a
kind it has no schema for, so this script loads the same bundled schemas itself, reports every
error, and refuses what it cannot check. Default: Kubernetes 1.37, the newest the pinned
kubernetes-validate 1.37.0 bundles; --kubernetes-version picks another bundled one (1.25-1.37).

Also checked here (the schemas name them as formats, which jsonschema leaves unchecked by
default): int32 and int64 ranges, and base64 for `format: byte` (ConfigMap binaryData).
Not checked, as these schemas do not say it (the API server's validation does): quantity syntax
(`cpu: lots` passes; a Quantity is "string or number"), int-or-string contents (`maxSurge: lots`),
enum-like strings (toleration operator/effect, preemptionPolicy: no enums in these schemas),
minimums (negative replicas), names and label syntax, cross-field rules (selector matches the
template's labels), and PriorityClass.value being present (the bundled schema has no `required`
for it). Every field's type also admits null (the schema generator's doing).

Usage: k8s_validate.py [--kubernetes-version X.Y] FILE...
Prints one line per problem, `FILE: document N (Kind/name): path: message`, and exits 1 if
there is any; otherwise prints a one-line summary and exits 0. Exits 2 (message on stderr) for
a file that cannot be read or parsed as YAML, a file without any object, or an object whose
apiVersion/kind has no schema in that Kubernetes version. N counts the file's YAML documents
from 1, empty ones included (empty documents are skipped, as kubectl does).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from functools import lru_cache
from importlib import resources

import yaml

try:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions
    from referencing import Registry, Resource
except ImportError as e:  # pragma: no cover - setup problem, not a validation result
    print(
        f"k8s_validate: {e}; run ./scripts/setup-venv (it installs kubernetes-validate from "
        "requirements-test.txt into .venv) and use .venv/bin/python",
        file=sys.stderr,
    )
    sys.exit(2)

DEFAULT_KUBERNETES_VERSION = "1.37"


class Unusable(Exception):
    """Input that cannot be validated at all (exit 2)."""


# --- schemas ---------------------------------------------------------------------------------


def bundled_versions() -> dict[str, str]:
    """Kubernetes "X.Y" -> the schema directory's version "X.Y.Z" bundled by kubernetes-validate."""
    out = {}
    for v in all_versions():
        m = re.match(r"^(\d+\.\d+)", v)
        if m:
            out[m.group(1)] = v
    return out


def schema_dir(version: str):
    return resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", f"v{version}-local-strict"
    )


@lru_cache(maxsize=None)
def registry(version: str) -> Registry:
    defs = json.loads(schema_dir(version).joinpath("_definitions.json").read_text())
    return Resource.from_contents(defs) @ Registry()


def _in_range(lo: int, hi: int):
    def check(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return True  # the type keyword judges non-numbers
        return lo <= v <= hi

    return check


def _is_base64(v) -> bool:
    if not isinstance(v, str):
        return True
    try:
        base64.b64decode(v, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("int32")(_in_range(-(2**31), 2**31 - 1))
FORMATS.checks("int64")(_in_range(-(2**63), 2**63 - 1))
FORMATS.checks("byte")(_is_base64)


def schema_file_name(api_version: str, kind: str) -> str:
    # The package's naming: group's first label and version, e.g. scheduling.k8s.io/v1 ->
    # priorityclass-scheduling-v1.json, apps/v1 -> deployment-apps-v1.json, v1 -> configmap-v1.json.
    # Several groups can share a file name, so the caller checks the schema's own group/version/kind.
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{short}.json"


@lru_cache(maxsize=None)
def validator_for(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    path = schema_dir(version).joinpath(schema_file_name(api_version, kind))
    try:
        schema = json.loads(path.read_text())
    except FileNotFoundError:
        schema = None
    group, _, ver = api_version.rpartition("/")
    gvks = (schema or {}).get("x-kubernetes-group-version-kind", [])
    if not any(g.get("group", "") == group and g.get("version") == ver and g.get("kind") == kind for g in gvks):
        raise Unusable(
            f"no schema for apiVersion {api_version!r} kind {kind!r} in Kubernetes {major_minor(version)} "
            f"(kubernetes-validate {kubernetes_validate.__version__}); refusing to pass it unchecked"
        )
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=registry(version), format_checker=FORMATS)


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# --- YAML ------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[str, str]] = []

    def construct_mapping(self, node, deep=False):
        seen = set()
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                    seen.add(key)
                except TypeError:  # unhashable key: SafeLoader reports it below
                    continue
                if dup:
                    self.duplicates.append(
                        (f"line {key_node.start_mark.line + 1}", f"duplicate key {show(key)} (YAML keeps only the last one)")
                    )
        return super().construct_mapping(node, deep=deep)


def documents(path: str):
    """Yield (document number from 1, object or None, duplicate-key problems) for each YAML document."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise Unusable(f"cannot read: {e}") from e
    loader = StrictLoader(text)
    try:
        n = 0
        while loader.check_data():
            n += 1
            doc = loader.get_data()
            dups, loader.duplicates = loader.duplicates, []
            yield n, doc, dups
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = "; ".join(x for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x) or str(e)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise Unusable(f"not valid YAML: {what}{at}") from e
    finally:
        loader.dispose()


# --- reporting -------------------------------------------------------------------------------


def fmt_path(parts) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z0-9_/-]+", str(p)):
            out += f".{p}" if out else str(p)
        else:  # a key with dots (e.g. a label key) would read as more path segments
            out += f"[{json.dumps(str(p))}]"
    return out or "(root)"


def show(v) -> str:
    """A value as YAML/JSON spells it (true, null, "two"), not as Python does (True, None, 'two')."""
    text = json.dumps(v, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def types_of(t) -> str:
    # Every type in these schemas also allows null (an artifact of their generator); leave it out.
    ts = [t] if isinstance(t, str) else [x for x in t if x != "null"] or list(t)
    return " or ".join(ts)


def problems_of(validator, obj) -> list[tuple[str, str]]:
    found = []
    for err in validator.iter_errors(obj):
        path = list(err.absolute_path)
        if err.validator == "additionalProperties" and err.validator_value is False and isinstance(err.instance, dict):
            # One line per unknown field, at the field's own path (kubeconform -strict style).
            known = set(err.schema.get("properties", {}))
            patterns = list(err.schema.get("patternProperties", {}))
            extras = [
                k for k in err.instance
                if k not in known and not any(re.search(p, k) for p in patterns)
            ]
            for k in extras:
                found.append((fmt_path(path + [k]), "unknown field (not in the schema)"))
            if extras:
                continue
        msg = err.message
        if err.validator == "type":
            msg = f"{show(err.instance)} is not of type {types_of(err.validator_value)}"
        if err.validator == "oneOf":
            # Quantity (string or number) and IntOrString (string or integer) are a oneOf of types.
            alts = " or ".join(types_of(sub.get("type", "?")) for sub in err.validator_value if isinstance(sub, dict))
            if err.context:
                msg = f"{show(err.instance)} is not of type {alts}"
            elif err.instance is None:  # both alternatives admit null, so oneOf refuses it
                msg = f"null is not a value here (expected {alts}; leave the field out instead)"
        if err.validator == "format":
            msg = f"{show(err.instance)} is out of range or malformed for format {err.validator_value}"
        found.append((fmt_path(path), msg))
    return sorted(set(found))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Validate every object of multi-document Kubernetes YAML files strictly "
        "(unknown fields refused) against a Kubernetes version's schemas, offline."
    )
    ap.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help=f"Kubernetes minor version X.Y (default {DEFAULT_KUBERNETES_VERSION})",
    )
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)

    wanted = major_minor(args.kubernetes_version.lstrip("v"))
    versions = bundled_versions()
    if wanted not in versions:
        print(
            f"k8s_validate: kubernetes-validate {kubernetes_validate.__version__} has no schemas for "
            f"Kubernetes {wanted}; it bundles {', '.join(versions)}",
            file=sys.stderr,
        )
        return 2
    version = versions[wanted]

    bad = 0
    unusable = 0
    objects = 0
    for path in args.files:
        in_file = 0
        try:
            for n, obj, dups in documents(path):
                if obj is None:
                    continue
                in_file += 1
                where = f"{path}: document {n}"
                if not isinstance(obj, dict):
                    print(f"{where}: not a Kubernetes object (a {type(obj).__name__}, not a mapping)", file=sys.stderr)
                    unusable += 1
                    continue
                api_version, kind = obj.get("apiVersion"), obj.get("kind")
                meta = obj.get("metadata")
                name = meta.get("name") if isinstance(meta, dict) else None
                label = f"{where} ({kind or '?'}/{name or '?'})"
                if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
                    print(f"{label}: apiVersion and kind must both be non-empty strings", file=sys.stderr)
                    unusable += 1
                    continue
                try:
                    validator = validator_for(version, api_version, kind)
                except Unusable as e:
                    print(f"{label}: {e}", file=sys.stderr)
                    unusable += 1
                    continue
                objects += 1
                found = dups + problems_of(validator, obj)
                for p, msg in found:
                    print(f"{label}: {p}: {msg}")
                bad += len(found)
        except Unusable as e:
            print(f"{path}: {e}", file=sys.stderr)
            unusable += 1
            continue
        if in_file == 0:
            print(f"{path}: no Kubernetes object in the file", file=sys.stderr)
            unusable += 1

    if unusable:
        return 2
    if bad:
        return 1
    print(
        f"k8s_validate: {objects} object(s) in {len(args.files)} file(s) valid against Kubernetes {wanted} "
        f"(strict schemas of kubernetes-validate {kubernetes_validate.__version__})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
