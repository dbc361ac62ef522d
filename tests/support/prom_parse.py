"""Parses a Prometheus text exposition (stdin) with prometheus_client's own parser and prints
its metric families as JSON: [{"name", "type", "documentation", "samples": [{"name", "labels",
"value"}]}]. A document the parser rejects exits non-zero with its error on stderr."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    families = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        samples = []
        for s in family.samples:
            if not math.isfinite(s.value):
                raise SystemExit(f"non-finite value in {s.name}{s.labels}: {s.value}")
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
        families.append(
            {
                "name": family.name,
                "type": family.type,
                "documentation": family.documentation,
                "samples": samples,
            }
        )
    json.dump(families, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
