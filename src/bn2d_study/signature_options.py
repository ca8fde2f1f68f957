"""A component's options read from its signature, and how its checks are applied.

The signature is the one place where an option's name and type are written; the component's YAML
file states its value; a wing's `options.py` adds only the checks that types cannot say. The
signature is read from the source with `ast`, not imported, so that checking a config loads
neither torch nor Lightning (a bad value stops a run within a second).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, make_dataclass
from functools import cache
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING

from bn2d_study.errors import invalid_value

# The annotations that OmegaConf can type; any other (a union, a class, a callable) is `Any`.
_SCALARS = {"int": int, "float": float, "str": str, "bool": bool}
_SEQUENCES = {"list", "List", "Sequence", "tuple", "Tuple"}


# A component's checks of what types cannot say: given its options (as attributes), yield
# (key, the rule it breaks) for each value out of range or inconsistent.
Problems = Callable[[Any], Iterator[tuple[str, str]]]


def check(problems: Problems | None, values: Any, path: str) -> None:
    """Raise the `ConfigError` of the first problem with a node's values (`path`: where the node
    sits in the config, "" at the root), naming the key, its value and the rule."""
    for key, rule in problems(values) if problems else ():
        raise invalid_value(full_key(path, key), getattr(values, key), rule)


def full_key(path: str, key: str) -> str:
    """A node's key as the whole config names it (`path`: where the node sits, "" at the root)."""
    return ".".join(part for part in (path, key) if part)


@dataclass(frozen=True)
class ComponentOptions:
    """The options of the component built from a config node's `_target_`: `schema`, a
    dataclass of the signature's parameters (each MISSING: its YAML states the value), for
    Hydra's ConfigStore; `problems`, its checks of a filled node; `targets`, the `_target_` strings
    that name the component; `takes_more`: it takes **kwargs, so keys beyond the schema's are
    passed on unchecked; `given_by_caller`: the parameters the code passes, not the config;
    `with_default`: those a node built from its `_target_` alone (a callback added on the
    command line) may leave out. The YAML files that name the schema state every key."""

    schema: type
    problems: Problems | None
    targets: tuple[str, ...]
    takes_more: bool = False
    given_by_caller: tuple[str, ...] = ()
    with_default: frozenset[str] = frozenset()


def options_of(
    defined_at: str,
    *,
    also_named: Iterable[str] = (),
    problems: Problems | None = None,
    given_by_caller: Iterable[str] = (),
    partial: bool = False,
    instantiated: bool = True,
) -> ComponentOptions:
    """The options of the class or function at `defined_at` ("package.module.Name"): its
    parameters (a class's `__init__`'s), less those the code passes itself (`given_by_caller`),
    plus `_target_` unless the code builds it itself (`instantiated=False`), and `_partial_` for
    a factory that the caller completes. Its `_target_` may name it where it is defined or
    where its package exports it ("package.Name"); `also_named` adds other paths."""
    module, _, name = defined_at.rpartition(".")
    package = module.rpartition(".")[0]
    exported = (f"{package}.{name}",) if _exports(package, name) else ()
    omitted = tuple(given_by_caller)
    fields: list[tuple[str, Any, Any]] = []
    if instantiated:
        fields.append(("_target_", str, field(default=MISSING)))
    if partial:
        fields.append(("_partial_", bool, field(default=MISSING)))
    signature = _signature(module, name)
    for parameter, annotation in signature.parameters:
        if parameter not in omitted:
            fields.append((parameter, _option_type(annotation), field(default=MISSING)))
    title = "".join(part[:1].upper() + part[1:] for part in name.split("_"))  # build_cnn: BuildCnn
    schema = make_dataclass(f"{title}Options", fields)
    schema.__module__ = __name__
    schema.__doc__ = f"The options of `{defined_at}`, read from its signature."
    targets = (defined_at, *exported, *also_named)
    return ComponentOptions(
        schema,
        problems,
        targets,
        signature.takes_more,
        given_by_caller=omitted,
        with_default=signature.with_default,
    )


def by_target(*options: ComponentOptions) -> Mapping[str, ComponentOptions]:
    """Each `_target_` string of these components, to its options."""
    return {target: option for option in options for target in option.targets}


def _source_file(module: str) -> Path:
    """The source file of `module`, found without importing it (only its top package's location
    is looked up)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find the package {top!r} to read {module}'s source")
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ImportError(f"cannot find the source of {module} (looked for {base}.py)")


@dataclass(frozen=True)
class _Signature:
    parameters: tuple[tuple[str, ast.expr | None], ...]  # name and annotation, in order
    takes_more: bool  # it has **kwargs: keys beyond its parameters are passed on
    with_default: frozenset[str]  # the parameters a call may leave out


@cache
def _tree(module: str) -> ast.Module:
    """`module`'s source, parsed once (a package's `__init__` serves several lookups)."""
    return ast.parse(_source_file(module).read_text(encoding="utf-8"))


@cache
def _signature(module: str, name: str) -> _Signature:
    """The signature of `module.name`: a function's, or a class's `__init__`'s (inherited from
    its first base class, when that is imported by name, if it defines none)."""
    tree = _tree(module)
    found = [node for node in tree.body if getattr(node, "name", None) == name]
    if found and isinstance(found[0], ast.FunctionDef):
        function, first = found[0], 0
    elif found and isinstance(found[0], ast.ClassDef):
        body = found[0].body
        inits = [f for f in body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
        if not inits:
            return _inherited_signature(tree, found[0], module)
        function, first = inits[0], 1  # without `self`
    elif (imported := _imported(tree, name)) is not None:  # a package's re-export
        return _signature(*imported)
    else:
        raise ImportError(f"{module} defines no class or function {name!r} at its top level")
    args = function.args
    arguments = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    parameters = tuple((argument.arg, argument.annotation) for argument in arguments[first:])
    positional = [*args.posonlyargs, *args.args]
    with_default = {a.arg for a in positional[len(positional) - len(args.defaults) :]}
    with_default |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    return _Signature(parameters, args.kwarg is not None, frozenset(with_default))


def _inherited_signature(tree: ast.Module, cls: ast.ClassDef, module: str) -> _Signature:
    base = _name_of(cls.bases[0]) if cls.bases else None
    if base in (None, "object", "ABC"):  # object's __init__: no options
        return _Signature((), takes_more=False, with_default=frozenset())
    imported = _imported(tree, base)
    if imported is None:
        raise ImportError(f"{module}.{cls.name} defines no __init__, nor imports its base by name")
    return _signature(*imported)


def _exports(package: str, name: str) -> bool:
    """Whether `package` exports `name`: imports it, or lists it in `__all__` (a lazy export)."""
    try:
        tree = _tree(package)
    except ImportError:
        return False
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                if name in ast.literal_eval(node.value):
                    return True
            except ValueError:  # an `__all__` built by code: only its imports tell
                break
    return _imported(tree, name) is not None


def _imported(tree: ast.Module, name: str) -> tuple[str, str] | None:
    """Where a module's `from X import name` (as `name`) comes from: (X, its name there)."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return node.module, alias.name
    return None


def _option_type(annotation: ast.expr | None) -> Any:
    """The type OmegaConf checks for an annotation: a scalar, an optional one, a list of them,
    else `Any`."""
    if annotation is None:
        return Any
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return _option_type(ast.parse(annotation.value, mode="eval").body)
    if isinstance(annotation, ast.Name):
        return _SCALARS.get(annotation.id, Any)
    members = _union_members(annotation)
    if members is not None:
        present = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
        if len(present) != 1:
            return Any
        inner = _option_type(present[0])
        return inner if inner is Any or len(present) == len(members) else Optional[inner]  # noqa: UP045
    if isinstance(annotation, ast.Subscript) and _name_of(annotation.value) in _SEQUENCES:
        items = annotation.slice
        if isinstance(items, ast.Tuple):  # tuple[int, ...] or tuple[int, str]
            kinds = {ast.dump(e) for e in items.elts if not isinstance(e, ast.Constant)}
            if len(kinds) != 1:
                return Any
            items = next(e for e in items.elts if not isinstance(e, ast.Constant))
        return list[_option_type(items)]
    return Any


def _union_members(annotation: ast.expr) -> list[ast.expr] | None:
    """The members of `A | B`, `Optional[A]` or `Union[A, B]`; None for any other annotation."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return [*(_union_members(annotation.left) or [annotation.left]), annotation.right]
    if isinstance(annotation, ast.Subscript):
        kind = _name_of(annotation.value)
        if kind == "Optional":
            return [annotation.slice, ast.Constant(value=None)]
        if kind == "Union" and isinstance(annotation.slice, ast.Tuple):
            return list(annotation.slice.elts)
    return None


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.Optional, collections.abc.Sequence
        return node.attr
    return None
