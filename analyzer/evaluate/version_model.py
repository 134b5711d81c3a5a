"""``packaging.version`` on known plain strings, and ``torch.__version__``.

Only the PEP 440 subset that can be decided exactly is modelled: a release of dot-separated digits
(``2.13.0``, ``1.12``), optionally one pre-release (``aN``, ``bN``, ``rcN``), a ``.devN``, and a
local part (``+cpu``). Anything else (epochs, post-releases, other spellings) is an unknown with a
reason, never a guess. ``torch.__version__`` is the torch version the rules are checked against
(rules/externals.yaml ``torch_version``); every read is reported once (I204).
"""

from __future__ import annotations

import re

from analyzer.evaluate.values import Unknown

_RE = re.compile(r"(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.dev(\d+))?(?:\+([a-z0-9]+(?:\.[a-z0-9]+)*))?")
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}


class Version:
    """A parsed version: ordered as PEP 440 orders the subset above."""

    __slots__ = ("text", "release", "pre", "dev", "local")

    def __init__(self, text, release, pre, dev, local):
        self.text, self.release, self.pre, self.dev, self.local = text, release, pre, dev, local

    def key(self):
        rel = list(self.release)
        while len(rel) > 1 and rel[-1] == 0:  # 1.12 == 1.12.0
            rel.pop()
        if self.pre is None and self.dev is not None:
            pre = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
        elif self.pre is None:
            pre = (3, 0)
        else:
            pre = (_PRE_ORDER[self.pre[0]], self.pre[1])
        dev = (1, 0) if self.dev is None else (0, self.dev)
        local = () if self.local is None else tuple(
            (1, int(p), "") if p.isdigit() else (0, 0, p) for p in self.local.split("."))
        return (tuple(rel), pre, dev, local)

    def __str__(self):
        s = ".".join(map(str, self.release))
        if self.pre:
            s += f"{self.pre[0]}{self.pre[1]}"
        if self.dev is not None:
            s += f".dev{self.dev}"
        if self.local:
            s += f"+{self.local}"
        return s

    def __repr__(self):
        return f"<Version('{self}')>"


def parse(text, span=None):
    """A Version for a string in the modelled subset, else an Unknown saying why."""
    if not isinstance(text, str):
        return Unknown("packaging.version.parse of a value that is not a known string", span, True)
    m = _RE.fullmatch(text.strip().lower())
    if m is None:
        return Unknown(f"version {text!r} is outside the PEP 440 subset the analyzer models", span, True)
    rel, pl, pn, dev, local = m.groups()
    return Version(text, tuple(int(x) for x in rel.split(".")), (pl, int(pn)) if pl else None,
                   None if dev is None else int(dev), local)


_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def compare(symbol: str, left: Version, right: Version) -> bool:
    return _OPS[symbol](left.key(), right.key())


def attribute(v: Version, name: str, span):
    if name == "release":
        return v.release
    if name in ("major", "minor", "micro"):
        i = ("major", "minor", "micro").index(name)
        return v.release[i] if i < len(v.release) else 0
    if name == "base_version":
        return ".".join(map(str, v.release))
    if name == "public":
        return str(v).split("+")[0]
    if name == "local":
        return v.local
    if name in ("is_prerelease", "is_devrelease"):
        return (v.pre is not None or v.dev is not None) if name == "is_prerelease" else v.dev is not None
    return Unknown(f"Version.{name} is not modeled", span, True)


class TorchVersion(str):
    """What ``torch.__version__`` is: a str whose comparisons with a str parse both as versions
    (torch.torch_version.TorchVersion), so ``torch.__version__ >= "2.9"`` is not a string order."""

    __slots__ = ()


def compare_torch_version(symbol: str, left, right, span):
    """A comparison with a TorchVersion on either side, as TorchVersion decides it, or an Unknown."""
    if not (isinstance(left, (str, Version)) and isinstance(right, (str, Version))):
        return Unknown("a comparison of torch.__version__ with a value that is not a string or version", span, True)
    a = left if isinstance(left, Version) else parse(str(left), span)
    b = right if isinstance(right, Version) else parse(str(right), span)
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return a if isinstance(a, Unknown) else b
    return compare(symbol, a, b)


def torch_version(ev, span):
    said = ev.__dict__.setdefault("_torch_version_reported", False)
    version = ev.externals.torch_version
    if not said:
        ev.__dict__["_torch_version_reported"] = True
        ev.warn("I204", f"torch.__version__ read: the analysis assumes torch {version} (the version "
                        "rules/torch_nn.yaml is checked against)", span)
    return TorchVersion(version)


def packaging_attr(ev, modname: str, name: str, span):
    """``packaging.version`` and its members, or None when not modelled here."""
    from analyzer.evaluate.values import ExternalModule, Intrinsic

    if modname == "packaging" and name == "version":
        return ExternalModule("packaging.version")
    if modname == "packaging.version" and name in ("parse", "Version"):
        return Intrinsic(f"packaging.version.{name}", lambda ev, a, k, s: parse(a[0] if a else k.get("version"), s))
    return None
