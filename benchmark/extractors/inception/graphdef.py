"""TensorFlow GraphDef messages without TensorFlow: descriptors built at runtime, plus tensor <-> numpy helpers.

Field numbers follow TF's `graph.proto`, `node_def.proto`, `attr_value.proto`, `tensor.proto`,
`tensor_shape.proto` and `versions.proto`. Only the fields admbench reads or writes are declared; protobuf keeps
the others as unknown fields when parsing, so nothing is lost. A private descriptor pool avoids clashing with
TensorFlow's own registration of `tensorflow.GraphDef` when both are imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# TF DataType enum values (types.proto) and the numpy dtype each maps to.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_STRING, DT_INT64, DT_BOOL = 1, 2, 3, 4, 7, 9, 10
_NUMPY_OF: dict[int, np.dtype] = {
    DT_FLOAT: np.dtype("<f4"),
    DT_DOUBLE: np.dtype("<f8"),
    DT_INT32: np.dtype("<i4"),
    DT_UINT8: np.dtype("u1"),
    DT_INT64: np.dtype("<i8"),
    DT_BOOL: np.dtype("?"),
}
_VALUE_FIELD = {DT_FLOAT: "float_val", DT_DOUBLE: "double_val", DT_INT32: "int_val", DT_UINT8: "int_val",
                DT_INT64: "int64_val", DT_BOOL: "bool_val"}

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg: descriptor_pb2.DescriptorProto, name: str, number: int, ftype: int, repeated: bool = False,
           type_name: str | None = None, packed: bool = False) -> None:
    f = msg.field.add(name=name, number=number, type=ftype)
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name
    if packed:
        f.options.packed = True


def _file_proto() -> descriptor_pb2.FileDescriptorProto:
    fp = descriptor_pb2.FileDescriptorProto(name="admbench_tf_graph.proto", package="tensorflow", syntax="proto3")
    M, S, B, I32, I64, FL, DB, BO, EN, U32, U64 = (
        _F.TYPE_MESSAGE, _F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_FLOAT,
        _F.TYPE_DOUBLE, _F.TYPE_BOOL, _F.TYPE_ENUM, _F.TYPE_UINT32, _F.TYPE_UINT64)

    dtype_enum = fp.enum_type.add(name="DataType")
    for name, number in [("DT_INVALID", 0), ("DT_FLOAT", 1), ("DT_DOUBLE", 2), ("DT_INT32", 3), ("DT_UINT8", 4),
                         ("DT_INT16", 5), ("DT_INT8", 6), ("DT_STRING", 7), ("DT_COMPLEX64", 8), ("DT_INT64", 9),
                         ("DT_BOOL", 10), ("DT_HALF", 19)]:
        dtype_enum.value.add(name=name, number=number)

    shape = fp.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    _field(dim, "size", 1, I64)
    _field(dim, "name", 2, S)
    _field(shape, "dim", 2, M, True, ".tensorflow.TensorShapeProto.Dim")
    _field(shape, "unknown_rank", 3, BO)

    tensor = fp.message_type.add(name="TensorProto")
    _field(tensor, "dtype", 1, EN, type_name=".tensorflow.DataType")
    _field(tensor, "tensor_shape", 2, M, type_name=".tensorflow.TensorShapeProto")
    _field(tensor, "version_number", 3, I32)
    _field(tensor, "tensor_content", 4, B)
    _field(tensor, "half_val", 13, I32, True, packed=True)
    _field(tensor, "float_val", 5, FL, True, packed=True)
    _field(tensor, "double_val", 6, DB, True, packed=True)
    _field(tensor, "int_val", 7, I32, True, packed=True)
    _field(tensor, "string_val", 8, B, True)
    _field(tensor, "int64_val", 10, I64, True, packed=True)
    _field(tensor, "bool_val", 11, BO, True, packed=True)
    _field(tensor, "uint32_val", 16, U32, True, packed=True)
    _field(tensor, "uint64_val", 17, U64, True, packed=True)

    attr = fp.message_type.add(name="AttrValue")
    lst = attr.nested_type.add(name="ListValue")
    _field(lst, "s", 2, B, True)
    _field(lst, "i", 3, I64, True, packed=True)
    _field(lst, "f", 4, FL, True, packed=True)
    _field(lst, "b", 5, BO, True, packed=True)
    _field(lst, "type", 6, EN, True, ".tensorflow.DataType", packed=True)
    _field(lst, "shape", 7, M, True, ".tensorflow.TensorShapeProto")
    _field(lst, "tensor", 8, M, True, ".tensorflow.TensorProto")
    attr.oneof_decl.add(name="value")
    for name, number, ftype, tname in [("s", 2, B, None), ("i", 3, I64, None), ("f", 4, FL, None), ("b", 5, BO, None),
                                       ("type", 6, EN, ".tensorflow.DataType"),
                                       ("shape", 7, M, ".tensorflow.TensorShapeProto"),
                                       ("tensor", 8, M, ".tensorflow.TensorProto"),
                                       ("list", 1, M, ".tensorflow.AttrValue.ListValue"), ("placeholder", 9, S, None)]:
        _field(attr, name, number, ftype, type_name=tname)
        attr.field[-1].oneof_index = 0

    node = fp.message_type.add(name="NodeDef")
    entry = node.nested_type.add(name="AttrEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, S)
    _field(entry, "value", 2, M, type_name=".tensorflow.AttrValue")
    _field(node, "name", 1, S)
    _field(node, "op", 2, S)
    _field(node, "input", 3, S, True)
    _field(node, "device", 4, S)
    _field(node, "attr", 5, M, True, ".tensorflow.NodeDef.AttrEntry")

    versions = fp.message_type.add(name="VersionDef")
    _field(versions, "producer", 1, I32)
    _field(versions, "min_consumer", 2, I32)
    _field(versions, "bad_consumers", 3, I32, True, packed=True)

    graph = fp.message_type.add(name="GraphDef")
    _field(graph, "node", 1, M, True, ".tensorflow.NodeDef")
    _field(graph, "versions", 4, M, type_name=".tensorflow.VersionDef")
    _field(graph, "version", 3, I32)
    return fp


@dataclass(frozen=True)
class GraphDefClasses:
    """Message classes of the runtime-built GraphDef schema."""

    GraphDef: Any
    NodeDef: Any
    AttrValue: Any
    TensorProto: Any
    TensorShapeProto: Any


def graphdef_classes() -> GraphDefClasses:
    """Build the GraphDef schema in a private descriptor pool and return its message classes."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_proto())

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{name}"))

    return GraphDefClasses(cls("GraphDef"), cls("NodeDef"), cls("AttrValue"), cls("TensorProto"),
                           cls("TensorShapeProto"))


def tensor_to_numpy(proto: Any) -> np.ndarray:
    """Decode a TensorProto (tensor_content bytes or typed *_val fields, broadcast like TF) into a numpy array."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    dtype = _NUMPY_OF.get(int(proto.dtype))
    if dtype is None:
        raise ValueError(f"unsupported tensor dtype {int(proto.dtype)}")
    count = int(np.prod(shape)) if shape else 1
    if proto.tensor_content:
        arr = np.frombuffer(proto.tensor_content, dtype=dtype)
        if arr.size != count:
            raise ValueError(f"tensor_content holds {arr.size} values for shape {shape}")
        return arr.reshape(shape).copy()
    values = np.asarray(getattr(proto, _VALUE_FIELD[int(proto.dtype)]), dtype=dtype)
    if values.size == count:
        return values.reshape(shape)
    if values.size == 0:
        return np.zeros(shape, dtype)
    if values.size > count:
        raise ValueError(f"{values.size} values for shape {shape}")
    # TF repeats the last value to fill the shape.
    out = np.empty(count, dtype)
    out[: values.size] = values
    out[values.size :] = values[-1]
    return out.reshape(shape)


def numpy_to_tensor(classes: GraphDefClasses, arr: np.ndarray) -> Any:
    """Encode a numpy array as a TensorProto (raw little-endian tensor_content; scalars as typed values)."""
    arr = np.asarray(arr)
    for dt, npdt in _NUMPY_OF.items():
        if arr.dtype == npdt:
            dtype = dt
            break
    else:
        raise ValueError(f"unsupported numpy dtype {arr.dtype}")
    proto = classes.TensorProto(dtype=dtype)
    for size in arr.shape:
        proto.tensor_shape.dim.add(size=int(size))
    if arr.ndim == 0:
        getattr(proto, _VALUE_FIELD[dtype]).append(arr.item())
    else:
        proto.tensor_content = np.ascontiguousarray(arr, dtype=_NUMPY_OF[dtype]).tobytes()
    return proto
