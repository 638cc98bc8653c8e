"""Container image references as KAITO's webhook reads them: refuse what it cannot parse.

Pure, used by ``kaitorules`` on every image a Workspace names (preset, adapters, tuning
input and output). KAITO parses these with ``reference.ParseDockerRef`` from
github.com/distribution/reference; a reference that fails there is refused at admission,
so modelsync refuses it at pull-request time with the reason. The grammar below is that
package's documented one (``reference.go``), written out here as Python regular
expressions; nothing is copied from its code.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]      (host: dotted DNS components or a bracketed IPv6)
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex (at least 32 hex digits)

The first component is a domain only when it holds a ``.`` or a ``:`` or is
``localhost``, or is not all lower case (Docker's normalisation); otherwise the name is
on Docker Hub. The whole name is at most 255 characters.
"""

from __future__ import annotations

import re

__all__ = ["image_problem"]

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_HEX64 = re.compile(r"[a-f0-9]{64}")
MAX_NAME = 255


def image_problem(reference: str) -> str | None:
    """Why KAITO cannot parse ``reference`` as an image, or None when it can."""
    if not reference:
        return "is empty"
    name, at, digest = reference.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        return f"has an invalid digest {digest!r} (algorithm:hex, e.g. sha256:<64 hex>)"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return f"has an invalid tag {tag!r} (letters, digits, '_', '.', '-'; at most 128)"
    if not name:
        return "has no repository name"
    if len(name) > MAX_NAME:
        return f"has a name of {len(name)} characters, over {MAX_NAME}"
    if _HEX64.fullmatch(name):
        return "is a 64-hex image id, not a repository name"
    first, _, rest = name.partition("/")
    components = name.split("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            return f"has an invalid registry host {first!r}"
        components = rest.split("/")
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"has an invalid repository path component {component!r} (lower-case "
                "letters and digits, separated by '.', '_', '__' or '-')"
            )
    return None
