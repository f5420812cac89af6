#!/usr/bin/env python3
"""Writes a copy of a K-quant GGUF with every K-quant tensor decoded and
re-encoded as Q8_0 (other tensors and all metadata unchanged), for the
comparison in bench/llm/kquant-vs-q8_0: are integer K-quant kernels faster
on this CPU than a one-time conversion to Q8_0 at fetch time?

Runs in .venv-llama (the `gguf` package). Usage:
  bench/llm/requantize-q8_0.py IN.gguf OUT.gguf
"""
import sys

import gguf
import numpy as np
from gguf import quants

K = {gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q5_K, gguf.GGMLQuantizationType.Q6_K}


def main(src, dst):
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch=reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(field.name, field.contents(), vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, field.contents(), vtype)
    for t in reader.tensors:
        if t.tensor_type in K:
            values = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            data = quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(t.name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
