"""``make demo``: a throwaway local registry with good and broken images, checked by imagecheck.

Shows the product's answers with no Slack app and no internet: it reuses the tests' registry support
(the Debian docker-registry on 127.0.0.1) and runs the real CLI against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.local_registry import Flavour, running_registry  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="imagecheck-demo-") as tmp, \
            running_registry(Path(tmp), Flavour.open) as registry:
        config = Path(tmp) / "imagecheck.yaml"
        config.write_text(f'registries:\n  "{registry.host}": {{insecure: true}}\n', encoding="utf-8")
        env = {**os.environ, "IMAGECHECK_CONFIG": str(config)}
        cases = [
            ("a multi-arch image that is fine", [registry.ref("multi/oci", "1.0")]),
            ("a tag that was never pushed", [registry.ref("payments/api", "1.8.4")]),
            ("arm64 nodes, amd64-only index", [registry.ref("amd64only/app", "1.0"), "--platform", "linux/arm64"]),
            ("an index whose arm64 child was garbage-collected", [registry.ref("dangling/app", "1.0")]),
            ("a layer blob missing (deep check)", [registry.ref("missingblob/app", "1.0"), "--deep"]),
        ]
        for title, args in cases:
            print(f"\n### {title}\n$ imagecheck check {' '.join(args)}", flush=True)
            subprocess.run([sys.executable, "-m", "bot", "check", *args], env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
