"""Contract-check speed: ``pytest_helios.validate`` against ``jsonschema.validate``.

Validates the same 200-lab ``lab-results-request`` with both, side by side in one run, and
prints the time per call and the ratio. Target: ``validate`` at least 10 times faster, because
every replayed cassette interaction is contract-checked.

    python benchmarks/bench_validate.py [--calls N] [--repeat R]

The baseline is exactly ``jsonschema.validate(instance, schema)`` (which checks the schema and
builds a validator on every call, and checks no formats); a cached ``jsonschema`` validator is
shown for reference. ``validate`` uses a cached jsonschema-rs validator that also checks formats.
Exit status 1 when the ratio misses the target.
"""

from __future__ import annotations

import argparse
import platform
import sys
import timeit
from importlib import metadata
from typing import Any

TARGET = 10.0

_LABS = (
    ("Creatinine", "mg/dL", "0.7-1.3 mg/dL", "Renal"),
    ("eGFR", "mL/min/1.73m2", ">60 mL/min/1.73m2", "Renal"),
    ("Hemoglobin A1c", "%", "4.0-5.6%", "Metabolic"),
    ("Sodium", "mEq/L", "136-145 mEq/L", "Electrolytes"),
    ("Potassium", "mEq/L", "3.5-5.1 mEq/L", "Electrolytes"),
    ("LDL Cholesterol", "mg/dL", "0-100 mg/dL", "Lipids"),
    ("TSH", "mIU/L", "0.4-4.0 mIU/L", "Endocrine"),
    ("Hemoglobin", "g/dL", "13.5-17.5 g/dL", "Hematology"),
)
_FLAGS = ("High", "Low", "Normal", "Critical")


def lab_results_request(count: int = 200) -> dict[str, Any]:
    """A realistic Lab Results request with ``count`` labs and a full patient context."""
    labs = []
    for index in range(count):
        name, unit, reference, category = _LABS[index % len(_LABS)]
        labs.append(
            {
                "name": name,
                "value": f"{1 + index % 97 / 10:.1f} {unit}",
                "flag": _FLAGS[index % len(_FLAGS)],
                "referenceRange": reference,
                "date": f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}",
                "category": category,
                "notes": "Fasting sample 🧪",
            }
        )
    return {
        "webhookUrl": "https://your-server.com/webhook/helios",
        "labResults": labs,
        "patientContext": {
            "age": "58",
            "gender": "male",
            "conditions": [{"name": "Type 2 Diabetes Mellitus", "status": "active"}],
            "medications": [{"name": "Metformin", "dosage": "1000mg", "frequency": "twice daily"}],
            "socialHistory": "Non-smoker",
        },
    }


def per_call(function: Any, calls: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds per call over ``calls`` calls."""
    return min(timeit.repeat(function, number=calls, repeat=repeat)) / calls


def measure(calls: int = 20, repeat: int = 3) -> dict[str, float]:
    """Seconds per call of ``validate``, ``jsonschema.validate`` and a cached validator."""
    import jsonschema

    from pytest_helios import validate
    from pytest_helios.payloads import load_schema

    instance = lab_results_request(200)
    schema = load_schema("lab-results-request")
    cached = jsonschema.Draft202012Validator(schema)

    validate("lab-results-request", instance)  # builds and caches the validator
    jsonschema.validate(instance, schema)  # both must accept the payload
    cached.validate(instance)

    helios = per_call(lambda: validate("lab-results-request", instance), calls, repeat)
    baseline = per_call(lambda: jsonschema.validate(instance, schema), calls, repeat)
    reference = per_call(lambda: cached.validate(instance), calls, repeat)
    return {"helios": helios, "baseline": baseline, "reference": reference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per timing (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timings, best kept (default 3)")
    args = parser.parse_args(argv)

    figures = measure(args.calls, args.repeat)
    helios, baseline, reference = figures["helios"], figures["baseline"], figures["reference"]
    ratio = baseline / helios
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("jsonschema", "jsonschema-rs")
    )
    print(f"python {platform.python_version()}, {versions}")
    print("payload: lab-results-request with 200 labs")
    print(f"pytest_helios.validate:             {helios * 1e6:10.1f} us/call")
    print(f"jsonschema.validate(instance, schema): {baseline * 1e6:7.1f} us/call")
    print(f"jsonschema cached validator (ref.): {reference * 1e6:10.1f} us/call")
    print(
        f"ratio: validate is {ratio:.1f}x faster than jsonschema.validate (target >= {TARGET:g}x)"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
