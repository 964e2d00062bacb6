"""``python -m fraudstream.deploy [ROOT]``: run every offline deployment check.

Prints one line per check (``ok`` or its problems) and exits 1 if any failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from fraudstream.deploy.checks import all_checks
from fraudstream.errors import FraudstreamError


def main(argv: list[str]) -> int:
    """Run the checks of the checkout at ``argv[0]`` (default: the current folder)."""
    root = Path(argv[0] if argv else ".").resolve()
    failed = 0
    for name, check in all_checks(root).items():
        try:
            problems = check()
        except (FraudstreamError, ValueError, OSError, yaml.YAMLError) as exc:
            problems = [str(exc)]
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        for problem in problems:
            print(f"       {problem}")
    print(
        f"{failed} of {len(all_checks(root))} deployment checks failed"
        if failed
        else "all deployment checks passed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
