"""The dynamic user data seen from inside: the files it writes (the agent's archive extracted),
the agent installed from it as cloud-init would, and the launcher's command."""

from __future__ import annotations

import base64
import io
import lzma
import tarfile
from pathlib import Path

import yaml

from eniplan.render import dynamic


def user_data_files(text: str) -> dict[str, str]:
    """path -> content of the user data's files, the archive's members extracted."""
    document = yaml.safe_load(text)
    files: dict[str, str] = {}
    for entry in document["write_files"]:
        if entry.get("encoding") == "b64":
            data = lzma.decompress(base64.b64decode(entry["content"]))
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member)
                    assert extracted is not None and member.isfile()
                    files[f"{dynamic.LIB}/{member.name}"] = extracted.read().decode()
        else:
            files[entry["path"]] = entry["content"]
    return files


def install_agent(lib: Path) -> None:
    """The agent's modules, as the user data ships them (minified), under `lib`."""
    for path, content in user_data_files(dynamic.user_data()).items():
        if path.startswith(dynamic.LIB + "/"):
            target = lib / path[len(dynamic.LIB) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)


def launch(lib: Path | str) -> list[str]:
    """The launcher's command (before the agent's arguments), the agent's modules under `lib`."""
    code = (
        f"import sys; sys.path.insert(0, {str(lib)!r})\n"
        "from eniplan.agent.main import main; sys.exit(main())"
    )
    return ["python3", "-Es", "-c", code]


def cloud_init_crawl(tree: dict[str, str]) -> dict[str, object]:
    """A fake IMDS tree as cloud-init's EC2 datasource writes its crawl to
    /run/cloud-init/instance-data.json: meta-data nested by path, a leaf of several lines
    as a list of them (its MetadataLeafDecoder). The booted lab checks the real one."""
    meta: dict[str, object] = {}
    for path, text in tree.items():
        *parents, leaf = path.split("/")
        node = meta
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = text.splitlines() if "\n" in text else text
    return {"ds": {"_doc": "EXPERIMENTAL", "meta-data": meta}, "v1": {}}
