"""Run ``skopeo inspect`` against the local registries, to compare our answers with skopeo's.

skopeo is given an empty auth file and no ``--creds`` unless asked, so nothing from the machine's
own Docker or containers config leaks into a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"


class SkopeoError(RuntimeError):
    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"skopeo exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class SkopeoResult:
    data: dict[str, Any]
    raw_text: str


def skopeo_inspect(
    reference: str,
    *,
    creds: str | None = None,
    raw: bool = False,
    no_tags: bool = True,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """``skopeo inspect --tls-verify=false [--creds u:p] [--raw] docker://REFERENCE`` as parsed JSON.

    ``reference`` is ``127.0.0.1:PORT/repo:tag`` (or ``@sha256:…``). ``raw=True`` returns the
    manifest/index exactly as the registry served it. Raises ``SkopeoError`` on a non-zero exit
    (its ``stderr`` holds skopeo's message, e.g. "manifest unknown").
    """
    return skopeo_inspect_result(reference, creds=creds, raw=raw, no_tags=no_tags, timeout=timeout).data


def skopeo_inspect_result(
    reference: str,
    *,
    creds: str | None = None,
    raw: bool = False,
    no_tags: bool = True,
    timeout: float = 60.0,
) -> SkopeoResult:
    with tempfile.TemporaryDirectory(prefix="imagecheck-skopeo-") as home:
        auth_file = Path(home) / "auth.json"
        auth_file.write_text('{"auths": {}}')
        args = [SKOPEO, "inspect", "--tls-verify=false", "--authfile", str(auth_file)]
        if creds is not None:
            args += ["--creds", creds]
        else:
            args += ["--no-creds"]
        if raw:
            args.append("--raw")
        elif no_tags:
            args.append("--no-tags")
        args.append(f"docker://{reference}")
        # HOME and XDG dirs point into the temp dir so no registries.conf/auth of the machine's user applies.
        env = {"HOME": home, "XDG_RUNTIME_DIR": home, "XDG_CONFIG_HOME": home, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise SkopeoError(done.returncode, done.stderr)
    return SkopeoResult(json.loads(done.stdout), done.stdout)
