"""The dynamic user data seen from inside: the files it writes (the agent's archive extracted),
and Python source compared without its docstrings and annotations."""

from __future__ import annotations

import ast
import base64
import io
import lzma
import tarfile

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


def without_docs(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            node.returns = None
            arguments = node.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                arg.annotation = None
            for extra in (arguments.vararg, arguments.kwarg):
                if extra is not None:
                    extra.annotation = None
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if len(node.body) > 1:
                    node.body = node.body[1:]
                else:  # the only statement: an empty docstring stays
                    first.value.value = ""
    return ast.dump(tree)


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
