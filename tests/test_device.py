"""``--device`` / ``--precision``: resolution, refusal of unavailable devices, and the CPU default.

No test needs a GPU: on a machine without CUDA, asking for one must give one clear sentence.
"""

from __future__ import annotations

import pytest
import torch

from hfviz.device import autocast, check_precision, resolve_device
from hfviz.errors import HfvizError


def test_auto_picks_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


def test_cpu_is_always_available():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_refused_with_one_sentence(spec):
    with pytest.raises(HfvizError, match="no CUDA device is available"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu", "cuda:-1"])
def test_a_word_that_is_not_a_device_is_refused(spec):
    with pytest.raises(HfvizError, match="is not a device"):
        resolve_device(spec)


def test_bf16_is_refused_on_the_cpu_and_fp32_autocast_is_a_no_op():
    with pytest.raises(HfvizError, match="needs a CUDA device"):
        check_precision("bf16", torch.device("cpu"))
    assert check_precision("fp32", torch.device("cpu")) == "fp32"
    with autocast(torch.device("cpu"), "bf16"):  # never autocasts off CUDA
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_cli_reports_an_unavailable_device_as_an_error_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from hfviz.cli import main

    code = main(["predict", str(tmp_path / "x.csv"), "--cohort", "mi", "--device", "cuda:1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --device cuda:1") and err.count("\n") == 1
