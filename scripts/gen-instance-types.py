#!/usr/bin/env python3
"""Regenerate data/ec2-instance-types.csv.

Source: the AWS EC2 documentation, "Amazon EC2 instance types" specifications pages (general
purpose, compute optimized, memory optimized), which give per family the sizes it offers and the
vCPU and memory of each. Within the families listed here vCPU follows the size name (large = 2,
xlarge = 4, Nxlarge = 4N) and memory is a fixed GiB per vCPU, except the exceptions spelled out
below (c5n, t3/t3a/t4g). Add a family by adding a line; re-run; commit both files.
"""
import sys

SIZES = {"medium": 1, "large": 2, "xlarge": 4}
def vcpu(size):
    if size in SIZES:
        return SIZES[size]
    return 4 * int(size[: -len("xlarge")])

STD = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]
GEN6 = STD + ["32xlarge"]
GEN7 = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"]
GRAV = ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]
C5 = ["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"]

# family: (arch, GiB per vCPU, sizes)
FAMILIES = {
    "c5": ("x86_64", 2, C5), "c5d": ("x86_64", 2, C5),
    "c5a": ("x86_64", 2, STD), "c5ad": ("x86_64", 2, STD),
    "c6i": ("x86_64", 2, GEN6), "c6id": ("x86_64", 2, GEN6), "c6in": ("x86_64", 2, GEN6),
    "c6a": ("x86_64", 2, GEN6 + ["48xlarge"]),
    "c7i": ("x86_64", 2, GEN7), "c7a": ("x86_64", 2, GEN7 + ["32xlarge"]),
    "c6g": ("arm64", 2, GRAV), "c6gd": ("arm64", 2, GRAV), "c7g": ("arm64", 2, GRAV),
    "m5": ("x86_64", 4, STD), "m5d": ("x86_64", 4, STD), "m5a": ("x86_64", 4, STD),
    "m5ad": ("x86_64", 4, STD), "m5n": ("x86_64", 4, STD), "m5dn": ("x86_64", 4, STD),
    "m6i": ("x86_64", 4, GEN6), "m6id": ("x86_64", 4, GEN6), "m6a": ("x86_64", 4, GEN6 + ["48xlarge"]),
    "m7i": ("x86_64", 4, GEN7), "m7a": ("x86_64", 4, GEN7 + ["32xlarge"]),
    "m6g": ("arm64", 4, GRAV), "m6gd": ("arm64", 4, GRAV), "m7g": ("arm64", 4, GRAV),
    "r5": ("x86_64", 8, STD), "r5d": ("x86_64", 8, STD), "r5a": ("x86_64", 8, STD),
    "r5ad": ("x86_64", 8, STD), "r5n": ("x86_64", 8, STD), "r5dn": ("x86_64", 8, STD),
    "r6i": ("x86_64", 8, GEN6), "r6id": ("x86_64", 8, GEN6), "r6a": ("x86_64", 8, GEN6 + ["48xlarge"]),
    "r7i": ("x86_64", 8, GEN7), "r7a": ("x86_64", 8, GEN7 + ["32xlarge"]),
    "r6g": ("arm64", 8, GRAV), "r6gd": ("arm64", 8, GRAV), "r7g": ("arm64", 8, GRAV),
}
# Exceptions to the rules above, as documented.
C5N = {"large": 5.25, "xlarge": 10.5, "2xlarge": 21, "4xlarge": 42, "9xlarge": 96, "18xlarge": 192}
BURST = [("nano", 2, 0.5), ("micro", 2, 1), ("small", 2, 2), ("medium", 2, 4), ("large", 2, 8),
         ("xlarge", 4, 16), ("2xlarge", 8, 32)]

rows = []
for fam, (arch, per, sizes) in FAMILIES.items():
    for s in sizes:
        rows.append((f"{fam}.{s}", vcpu(s), vcpu(s) * per, arch))
for s, mem in C5N.items():
    rows.append((f"c5n.{s}", vcpu(s), mem, "x86_64"))
for fam, arch in [("t3", "x86_64"), ("t3a", "x86_64"), ("t4g", "arm64")]:
    for s, v, mem in BURST:
        rows.append((f"{fam}.{s}", v, mem, arch))

out = sys.stdout
out.write("# EC2 instance types: vCPU, memory (GiB), architecture.\n")
out.write("# From the AWS EC2 documentation (Amazon EC2 instance types, specifications);\n")
out.write("# regenerate with scripts/gen-instance-types.py. Unknown types are reported by lint, never guessed.\n")
out.write("type,vcpu,memory_gib,arch\n")
for t, v, m, a in sorted(rows):
    m = int(m) if float(m).is_integer() else m
    out.write(f"{t},{v},{m},{a}\n")
