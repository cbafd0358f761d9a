"""Benchmarks: `python -m bench <name>`. Each prints ratios measured side by side in one run;
the last line printed is one JSON object."""
