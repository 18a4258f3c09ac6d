#!/usr/bin/env python3
"""Writes crates/sandbox/src/protobuf/schema.rs: the messages (field numbers, names and types) of the
Kubernetes types whose protobuf bodies the sandbox decodes, read from the `generated.proto` files of
the Kubernetes API (k8s.io/api and k8s.io/apimachinery).

    python3 crates/sandbox/tools/protobuf_schema.py DIR > crates/sandbox/src/protobuf/schema.rs

DIR holds core.proto, apps.proto, batch.proto, authz.proto, authn.proto, policy.proto,
networking.proto and meta.proto (the `generated.proto` of core/v1, apps/v1, batch/v1,
authorization/v1, authentication/v1, policy/v1, networking/v1 and apimachinery's
pkg/apis/meta/v1)."""

import re
import sys

FILES = ["meta", "core", "apps", "batch", "authz", "authn", "policy", "networking"]
ROOTS = [
    "k8s.io.api.core.v1.Namespace",
    "k8s.io.api.core.v1.ConfigMap",
    "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.Pod",
    "k8s.io.api.core.v1.Service",
    "k8s.io.api.core.v1.Node",
    "k8s.io.api.core.v1.Event",
    "k8s.io.api.apps.v1.Deployment",
    "k8s.io.api.apps.v1.ReplicaSet",
    "k8s.io.api.batch.v1.Job",
    "k8s.io.api.networking.v1.Ingress",
    "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
    "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
    "k8s.io.api.authentication.v1.SelfSubjectReview",
    "k8s.io.api.policy.v1.Eviction",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
]
# Decoded by hand (their JSON is not an object of their fields).
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
    "k8s.io.api.authorization.v1.ExtraValue",
    "k8s.io.api.authentication.v1.ExtraValue",
}
SCALARS = {"string": "Str", "bytes": "Bytes", "int32": "I32", "int64": "I64", "bool": "Bool",
           "double": "F64", "float": "F32"}

messages = {}
for f in FILES:
    text = open(f"{sys.argv[1]}/{f}.proto").read()
    text = re.sub(r"//[^\n]*", "", text)
    pkg = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    for m in re.finditer(r"message (\w+) \{(.*?)\n\}", text, re.S):
        fields = []
        for line in m.group(2).split(";"):
            line = line.strip()
            if not line:
                continue
            fm = re.match(r"(optional|repeated) ([\w.]+) (\w+) = (\d+)$", line)
            mm = re.match(r"map<string, ([\w.]+)> (\w+) = (\d+)$", line)
            if fm:
                label, ty, name, num = fm.groups()
                fields.append((int(num), name, ty, label == "repeated", False))
            elif mm:
                ty, name, num = mm.groups()
                fields.append((int(num), name, ty, False, True))
            else:
                raise SystemExit(f"{f}: cannot read field {line!r}")
        messages[f"{pkg}.{m.group(1)}"] = (pkg, fields)


def resolve(pkg, ty):
    if ty in SCALARS:
        return ty
    if ty.startswith("."):
        return ty[1:]
    return f"{pkg}.{ty}"


needed, todo = set(), list(ROOTS)
while todo:
    name = todo.pop()
    if name in needed or name in SPECIAL or name not in messages:
        continue
    needed.add(name)
    pkg, fields = messages[name]
    for _, _, ty, _, _ in fields:
        t = resolve(pkg, ty)
        if t not in SCALARS:
            todo.append(t)


def rust_ty(pkg, ty):
    t = resolve(pkg, ty)
    if t in SCALARS:
        return f"Ty::{SCALARS[t]}"
    if t in SPECIAL or t in needed:
        return f'Ty::Msg("{t}")'
    return "Ty::Skip"


print("//! The Kubernetes messages the sandbox decodes from protobuf: field numbers, JSON names and types,")
print("//! read from the Kubernetes API's `generated.proto` files by `tools/protobuf_schema.py`. Do not edit.")
print()
print("use super::{Field, Message, Ty};")
print()
print("/// Every message, sorted by full name.")
print("pub static MESSAGES: &[Message] = &[")
for name in sorted(needed):
    pkg, fields = messages[name]
    print(f'    Message {{ name: "{name}", fields: &[')
    for num, fname, ty, rep, is_map in sorted(fields):
        t = rust_ty(pkg, ty)
        print(f'        Field {{ num: {num}, name: "{fname}", ty: {t}, repeated: {str(rep).lower()}, map: {str(is_map).lower()} }},')
    print("    ] },")
print("];")
