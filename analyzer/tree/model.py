"""The module tree: plain data shared by the static analysis, the runtime dump, diff and rendering.

A ``ModuleTree`` holds ``ModuleNode``s in ``named_modules()`` order. ``to_json`` / ``from_json``
define the one JSON schema (``SCHEMA``) that ``tree --json`` and ``dump-runtime`` write.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "modeltree/1"


@dataclass(frozen=True)
class BufferInfo:
    shape: tuple | None  # None when the shape could not be derived
    dtype: str | None
    persistent: bool

    def to_json(self) -> dict:
        return {
            "shape": list(self.shape) if self.shape is not None else None,
            "dtype": self.dtype,
            "persistent": self.persistent,
        }


@dataclass
class ModuleNode:
    name: str
    cls: str
    class_qualname: str
    params: dict[str, tuple | None] = field(default_factory=dict)
    buffers: dict[str, BufferInfo] = field(default_factory=dict)
    source: str | None = None
    stage: str = "other"
    leaf: bool = False
    partial: bool = False

    @property
    def depth(self) -> int:
        return 0 if self.name == "" else self.name.count(".") + 1

    def param_count(self) -> int | None:
        total = 0
        for shape in self.params.values():
            if shape is None:
                return None
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "class": self.cls,
            "class_qualname": self.class_qualname,
            "params": {k: (list(v) if v is not None else None) for k, v in self.params.items()},
            "buffers": {k: v.to_json() for k, v in self.buffers.items()},
            "stage": self.stage,
            "leaf": self.leaf,
            "source": self.source,
            "partial": self.partial,
        }


@dataclass
class ModuleTree:
    root: str
    modules: list[ModuleNode]
    meta: dict = field(default_factory=dict)

    def by_name(self) -> dict[str, ModuleNode]:
        return {m.name: m for m in self.modules}

    def children_of(self) -> dict[str, list[str]]:
        """Direct children per module name (parent = longest proper prefix present in the tree)."""
        names = {m.name for m in self.modules}
        out: dict[str, list[str]] = {m.name: [] for m in self.modules}
        for m in self.modules:
            if m.name == "":
                continue
            parent = m.name.rsplit(".", 1)[0] if "." in m.name else ""
            while parent not in names and parent:
                parent = parent.rsplit(".", 1)[0] if "." in parent else ""
            out[parent].append(m.name)
        return out

    # ---- summaries -------------------------------------------------------------------------
    def totals(self) -> dict:
        by_stage: dict[str, int] = {}
        params = 0
        tensors = 0
        buffers = 0
        persistent = 0
        unknown = 0
        for m in self.modules:
            n = m.param_count()
            tensors += len(m.params)
            buffers += len(m.buffers)
            persistent += sum(1 for b in m.buffers.values() if b.persistent)
            if n is None:
                unknown += 1
                continue
            params += n
            by_stage[m.stage] = by_stage.get(m.stage, 0) + n
        classes = {m.cls for m in self.modules}
        out = {
            "params": params,
            "params_by_stage": dict(sorted(by_stage.items())),
            "modules": len(self.modules),
            "param_tensors": tensors,
            "buffers": buffers,
            "persistent_buffers": persistent,
            "distinct_classes": len(classes),
            "partial_modules": sum(1 for m in self.modules if m.partial),
        }
        if unknown:
            out["modules_with_unknown_param_shapes"] = unknown
        return out

    def leaf_classes_by_stage(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for m in self.modules:
            if m.leaf:
                d = out.setdefault(m.stage, {})
                d[m.cls] = d.get(m.cls, 0) + 1
        return {s: dict(sorted(c.items())) for s, c in sorted(out.items())}

    def to_rows(self) -> list:
        """A compact form for the result cache (lists, no repeated keys); ``from_rows`` reverses it."""
        return [
            [m.name, m.cls, m.class_qualname,
             [[k, list(v) if v is not None else None] for k, v in m.params.items()],
             [[k, list(b.shape) if b.shape is not None else None, b.dtype, b.persistent] for k, b in m.buffers.items()],
             m.source, m.stage, m.leaf, m.partial]
            for m in self.modules
        ]

    def to_json(self, diagnostics: list | None = None) -> dict:
        return {
            "schema": SCHEMA,
            "root": self.root,
            "meta": self.meta,
            "modules": [m.to_json() for m in self.modules],
            "leaf_classes_by_stage": self.leaf_classes_by_stage(),
            "totals": self.totals(),
            "diagnostics": [d.to_json() for d in (diagnostics or [])],
        }


def from_rows(rows: list, root: str, meta: dict) -> ModuleTree:
    """The tree ``ModuleTree.to_rows`` wrote (a checksummed cache entry, so its shape is trusted;
    a wrong one raises ValueError, TypeError or IndexError)."""
    nodes = [
        ModuleNode(name, cls, qualname,
                   {k: tuple(v) if v is not None else None for k, v in params},
                   {k: BufferInfo(tuple(shape) if shape is not None else None, dtype, persistent)
                    for k, shape, dtype, persistent in buffers},
                   source, stage, leaf, partial)
        for name, cls, qualname, params, buffers, source, stage, leaf, partial in rows
    ]
    return ModuleTree(root=root, modules=nodes, meta=meta)


def _shape(v) -> tuple | None:
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in v):
        raise ValueError(f"a shape must be a list of integers, got {v!r}")
    return tuple(v)


def from_json(data) -> ModuleTree:
    """Read a tree from this schema, from the ground-truth runtime layout ({"modules": [...]}) or
    from the plain seed list ``[{name, class, stage}]``. Raises ValueError on a wrong shape."""
    if isinstance(data, list):
        modules_json, root, meta = data, "", {"format": "seed-list"}
    elif isinstance(data, dict) and isinstance(data.get("modules"), list):
        modules_json = data["modules"]
        root = data.get("root", "") if isinstance(data.get("root", ""), str) else ""
        meta = dict(data["meta"]) if isinstance(data.get("meta"), dict) else {}
    else:
        raise ValueError("expected a list of modules or an object with a 'modules' list")
    nodes = []
    for i, m in enumerate(modules_json):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("class"), str):
            raise ValueError(f"module #{i} needs string 'name' and 'class' fields")
        params = m.get("params")
        buffers = m.get("buffers")
        node = ModuleNode(
            name=m["name"],
            cls=m["class"],
            class_qualname=m.get("class_qualname") or "",
            params={k: _shape(v) for k, v in params.items()} if isinstance(params, dict) else {},
            buffers={
                k: BufferInfo(_shape(b.get("shape")), b.get("dtype"), bool(b.get("persistent", True)))
                for k, b in buffers.items()
            }
            if isinstance(buffers, dict)
            else {},
            source=m.get("source"),
            stage=m.get("stage") or "other",
            leaf=bool(m.get("leaf", False)),
            partial=bool(m.get("partial", False)),
        )
        # Remember which fields this input actually carries, so diff compares only those.
        node_fields = {"params" if isinstance(params, dict) else None, "buffers" if isinstance(buffers, dict) else None,
                       "stage" if "stage" in m else None, "class_qualname" if "class_qualname" in m else None}
        node_fields.discard(None)
        meta.setdefault("_fields", set()).update(node_fields)
        nodes.append(node)
    fields_present = sorted(meta.pop("_fields", set()))
    tree = ModuleTree(root=root, modules=nodes, meta=meta)
    tree.meta["fields"] = fields_present
    return tree
