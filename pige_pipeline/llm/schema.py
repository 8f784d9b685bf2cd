"""A small JSON-schema checker for LLM replies: the subset that structured-output schemas use."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


class SchemaMismatch(ValueError):
    """A reply is valid JSON but does not have the shape the schema asks for; the message says where."""


def validate(value: Any, schema: dict[str, Any], where: str = "reply") -> None:
    """Raise `SchemaMismatch` unless `value` matches `schema` (type, required, properties, items, enum)."""
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, where)
                return
            except SchemaMismatch as exc:
                errors.append(str(exc))
        raise SchemaMismatch(f"{where}: matches none of the allowed shapes ({'; '.join(errors)})")
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        allowed = tuple(t for name in names for t in _TYPES.get(name, (object,)))
        # bool is an int in Python, but not in JSON.
        if not isinstance(value, allowed) or (isinstance(value, bool) and "boolean" not in names):
            raise SchemaMismatch(f"{where}: expected {'/'.join(names)}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise SchemaMismatch(f"{where}: missing required field {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                validate(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")
